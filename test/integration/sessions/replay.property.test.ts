// A journal replay after a crash is harmless: any sequence of VPN lines applied once, then any
// suffix of it applied again with the same journal ids (Redis applied it, the crash lost the
// journal's acknowledgement), leaves every key and the outbox exactly as they were: each re-sent
// event is recognised by its journal id and answered `replayed`. Without the ids the same replay
// would emit pushes again (shown below), which is why the journal sends them.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { ipKey } from '../../../src/redis/keys.js';
import { runSessionScript } from '../../../src/sessions/script.js';
import type { LineInput } from '../../../src/sessions/model.js';
import { line, rules, T0 } from '../../unit/sessions/table.js';
import { readIpState, readOutbox, useRedis } from './redis-state.js';

const db = useRedis();
const IPS = ['192.0.2.1', '2001:db8::1'];

const lineArb = fc.record({
  kind: fc.constantFrom('up', 'up', 'down', 'rekey-signal') as fc.Arbitrary<LineInput['kind']>,
  ip: fc.constantFrom(...IPS),
  user: fc.constantFrom('alice', 'bob'),
  tunnelId: fc.constantFrom(undefined, '131073', '131074'),
  dt: fc.constantFrom(0, 1000, 6000, 20_000),
});

async function snapshot(prefix: string) {
  const states = await Promise.all(IPS.map(async (ip) => readIpState(db.redis, prefix, ipKey(ip))));
  return { states, outbox: await readOutbox(db.redis, prefix) };
}

let run = 0;

it('re-applying any applied suffix with its journal ids changes nothing', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(lineArb, { minLength: 1, maxLength: 20 }), fc.nat(), async (specs, cut) => {
      const prefix = `${db.server.keyPrefix}rp${run++}`;
      let t = T0;
      const inputs = specs.map((s, i): LineInput => {
        t += s.dt;
        return line(s.kind, {
          ip: s.ip,
          user: s.user,
          tunnelId: s.tunnelId,
          receivedAt: t,
          correlationId: `c${i}`,
          journal: { instance: 'j1', id: 100 + i },
        });
      });
      const apply = (input: LineInput) => runSessionScript(db.redis, prefix, ipKey(input.ip), input, rules, input.receivedAt + 5);
      for (const input of inputs) await apply(input);
      const before = await snapshot(prefix);

      const from = cut % inputs.length;
      for (const input of inputs.slice(from)) expect((await apply(input)).decision).toBe('replayed');
      expect(await snapshot(prefix)).toEqual(before);
    }),
    { numRuns: 60 },
  );
});

it('another journal (a second bridge) is not mistaken for a replay, and events without ids are never skipped', async () => {
  const prefix = `${db.server.keyPrefix}other`;
  const key = ipKey('192.0.2.1');
  const up = (user: string, journal?: LineInput['journal']) =>
    runSessionScript(db.redis, prefix, key, line('up', { ip: '192.0.2.1', user, journal }), rules, T0 + 5);
  expect((await up('alice', { instance: 'j1', id: 500 })).decision).toBe('connect');
  expect((await up('bob', { instance: 'j2', id: 1 })).decision).toBe('replaced');
  expect((await up('alice')).decision).toBe('replaced');
  // The contrast: re-sending an applied event without its journal id is not harmless.
  const again = await up('alice');
  expect(again.decision).toBe('suppressed');
  const down = line('down', { ip: '192.0.2.1', user: 'alice' });
  await runSessionScript(db.redis, prefix, key, down, rules, T0 + 5);
  const replayedDown = await runSessionScript(db.redis, prefix, key, down, rules, T0 + 5);
  expect(replayedDown.decision).toBe('orphan_down');
  expect(replayedDown.events).toHaveLength(1); // a second disconnect push, which the journal id prevents
});
