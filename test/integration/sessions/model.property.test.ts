// Model-based property test: random event sequences (few users, IPs and tunnel ids; time steps
// around the duplicate window; out-of-order receive times; sweeps) applied to the pure model one by
// one and to the Lua script in batches of random size (several IPs in one call) must give the same
// decisions, emitted events and final state.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { defaultConfig } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { ipKey } from '../../../src/redis/keys.js';
import { runSessionCall, type ScriptInput } from '../../../src/sessions/script.js';
import { DECISIONS, transition, type IpState, type LineInput } from '../../../src/sessions/model.js';
import { createSweeper } from '../../../src/sessions/sweeper.js';
import type { IdentityEvent } from '../../../src/types.js';
import { canonState, normalize, readIpState, readOutbox, useRedis } from './redis-state.js';

const db = useRedis();

const IPS = ['192.0.2.1', '2001:db8::1'];
const WINDOW_SECS = 5;
const IDLE_SECS = 60;

type Cmd =
  | { op: 'line'; dt: number; lag: number; line: Omit<LineInput, 'receivedAt' | 'correlationId'>; endsCall: boolean }
  | { op: 'sweep'; dt: number }
  | { op: 'resync'; dt: number; kind: 'resync' | 'refresh'; ip: string };

const dtArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 1, 1000, WINDOW_SECS * 1000 - 1, WINDOW_SECS * 1000, WINDOW_SECS * 1000 + 1) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 4 * WINDOW_SECS * 1000 }) },
  { weight: 1, arbitrary: fc.integer({ min: IDLE_SECS * 1000 - 1, max: 2 * IDLE_SECS * 1000 }) },
);
const lineArb = fc.record({
  kind: fc.constantFrom('up', 'up', 'down', 'rekey-signal') as fc.Arbitrary<LineInput['kind']>,
  ip: fc.constantFrom(...IPS),
  user: fc.constantFrom('alice', 'alice', 'alice', 'alice', 'bob', ''),
  domain: fc.constantFrom('example.com', 'example.com', 'example.com', 'corp.example.com'),
  firewall: fc.constantFrom('srx-a', 'srx-b'),
  vpn: fc.constantFrom(undefined, '', 'ra-vpn', 'ra-vpn2'),
  gateway: fc.constantFrom(undefined, 'gw-ra'),
  peerIp: fc.constantFrom(undefined, '203.0.113.7'),
  tunnelId: fc.constantFrom(undefined, '131073', '131074', '131075'),
});
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('line' as const),
      dt: dtArb,
      lag: fc.constantFrom(0, 0, 0, 10, 3000),
      line: lineArb,
      // Where one script call ends and the next begins.
      endsCall: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sweep' as const), dt: dtArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('resync' as const),
      dt: dtArb,
      kind: fc.constantFrom('resync' as const, 'refresh' as const),
      ip: fc.constantFrom(...IPS),
    }),
  },
);

// Sweep events carry a per-run random correlation id; everything else must match exactly.
const comparable = (e: IdentityEvent) => normalize(e.reason === 'expired' ? { ...e, correlationId: 'sweep' } : e);

let run = 0;
/** Decisions seen over all runs: the generator must reach every row of the table. */
const seen = new Map<string, number>();

it('the Lua script behaves exactly like the pure model', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(cmdArb, { minLength: 1, maxLength: 30, size: 'max' }),
      fc.boolean(),
      async (cmds, forwardOrphanDown) => {
        const prefix = `${db.server.keyPrefix}p${run++}`;
        const cfg = {
          ...defaultConfig().sessions,
          duplicateWindowSecs: WINDOW_SECS,
          sessionIdleSecs: IDLE_SECS,
          forwardOrphanDown,
        };
        let now = 1_700_000_000_000;
        const sweeper = createSweeper({
          redis: db.redis,
          cfg,
          keyPrefix: prefix,
          metrics: createMetrics(),
          logger: silentLogger,
          clock: { now: () => now },
        });
        const model = new Map<string, IpState | undefined>();
        const modelOut = new Map<string, IdentityEvent[]>();
        const out = (key: string) => modelOut.get(key) ?? (modelOut.set(key, []), modelOut.get(key) as IdentityEvent[]);

        // Lines wait here until their call ends; the model applies each with the call's time.
        let call: { key: string; input: LineInput; n: number }[] = [];
        let n = 0;
        const flush = async () => {
          if (call.length === 0) return;
          const inputs: ScriptInput[] = call;
          const replies = await runSessionCall(db.redis, prefix, { source: 'prop', inputs }, cfg, now);
          for (const [j, { key, input }] of call.entries()) {
            const t = transition(model.get(key), input, cfg, now);
            const r = replies[j];
            if (r?.type !== 'applied') throw new Error(`input ${j} not applied: ${JSON.stringify(r)}`);
            expect(r.result.decision).toBe(t.decision);
            seen.set(t.decision, (seen.get(t.decision) ?? 0) + 1);
            expect(r.result.events.map(comparable)).toEqual(t.emit.map(comparable));
            model.set(key, t.state);
            out(key).push(...t.emit);
          }
          call = [];
        };

        for (const [i, cmd] of cmds.entries()) {
          // A call's inputs share its time: time moves only between calls.
          if (cmd.op !== 'line' || call.length === 0) now += cmd.dt;
          if (cmd.op === 'resync') {
            // Resync and refresh (the CLI, the refresher): one call of their own, decided at `now`.
            await flush();
            const key = ipKey(cmd.ip);
            const input = { kind: cmd.kind, correlationId: `r${i}` };
            const t = transition(model.get(key), input, cfg, now);
            const [r] = await runSessionCall(db.redis, prefix, { source: 'resync', inputs: [{ key, input, n: -1 }] }, cfg, now);
            if (r?.type !== 'applied') throw new Error(`resync not applied: ${JSON.stringify(r)}`);
            expect(r.result.decision).toBe(t.decision);
            expect(r.result.events.map(comparable)).toEqual(t.emit.map(comparable));
            seen.set(t.decision, (seen.get(t.decision) ?? 0) + 1);
            model.set(key, t.state);
            out(key).push(...t.emit);
            continue;
          }
          if (cmd.op === 'sweep') {
            await flush();
            let expected = 0;
            for (const [key, st] of model) {
              const t = transition(st, { kind: 'expire', correlationId: 'sweep' }, cfg, now);
              if (t.decision === 'expired') expected++;
              seen.set(t.decision, (seen.get(t.decision) ?? 0) + 1);
              model.set(key, t.state);
              out(key).push(...t.emit);
            }
            expect(await sweeper.sweepOnce()).toBe(expected);
            continue;
          }
          const input: LineInput = { ...cmd.line, receivedAt: now - cmd.lag, correlationId: `c${i}` };
          call.push({ key: ipKey(input.ip), input, n: n++ });
          if (cmd.endsCall) await flush();
        }
        await flush();

        const outbox = await readOutbox(db.redis, prefix);
        for (const ip of IPS) {
          const key = ipKey(ip);
          const { state, indexScore } = await readIpState(db.redis, prefix, key);
          expect(canonState(state)).toEqual(canonState(model.get(key)));
          expect(indexScore).toBe(state?.session ? state.session.lastUpAt : null);
          const mine = outbox.filter((e) => e.ipKey === key).map((e) => e.event);
          expect(mine.map(comparable)).toEqual((modelOut.get(key) ?? []).map(comparable));
          // seq strictly increasing per IP, without gaps, across sessions.
          expect(mine.map((e) => e.seq)).toEqual(mine.map((_, j) => j + 1));
        }
      },
    ),
    { numRuns: 100 },
  );
  // Guards the generator itself: a property that never reaches a row proves nothing about it.
  expect([...seen.keys()].sort()).toEqual([...DECISIONS].sort());
});
