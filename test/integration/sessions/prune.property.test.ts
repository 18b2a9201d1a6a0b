// Pruning an ended IP's bookkeeping never lets an older state overtake a newer one. Random
// interleavings of UP/DOWN lines, pushes (the real ordering guard), relay duplicates and operator
// retries of old events, dead-lettered pushes and pruning passes run on a real Redis against a
// model JIMS; JIMS must only ever apply an IP's events in the order the session script emitted
// them, the IP's seqs must only grow across pruning, and nothing still to be pushed is pruned.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { createOrderingGuard } from '../../../src/queue/ordering.js';
import { ipKey, jobId, keyspace } from '../../../src/redis/keys.js';
import { pruneEnded } from '../../../src/sessions/prune.js';
import { runSessionScript } from '../../../src/sessions/script.js';
import type { IdentityEvent } from '../../../src/types.js';
import { line, rules, T0 } from '../../unit/sessions/table.js';
import { useRedis } from './redis-state.js';

const db = useRedis();
const IPS = ['192.0.2.1', '192.0.2.2'];
const WINDOW_MS = 1000;

type Cmd =
  | { op: 'line'; kind: 'up' | 'down'; ip: number; user: 'alice' | 'bob' }
  | { op: 'push'; pick: number }
  | { op: 'duplicate'; pick: number }
  | { op: 'deadLetter'; pick: number }
  | { op: 'prune' };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('line' as const),
      kind: fc.constantFrom('up' as const, 'down' as const),
      ip: fc.nat(IPS.length - 1),
      user: fc.constantFrom('alice' as const, 'bob' as const),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('push' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('duplicate' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deadLetter' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('prune' as const) }) },
);

/** An emitted event and its place in the order the script emitted its IP's events. */
interface Emitted {
  readonly key: string;
  readonly event: IdentityEvent;
  readonly order: number;
}

let run = 0;

it('pruning never lets an older state of an IP overtake a newer one, and never drops a push still due', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 60 }), async (cmds) => {
      const prefix = `${db.server.keyPrefix}pr${run++}`;
      const ks = keyspace(prefix);
      const guard = createOrderingGuard(db.redis, prefix);
      let now = T0;
      let order = 0;
      const emitted: Emitted[] = [];
      let queued: Emitted[] = [];
      const deadLettered = new Set<Emitted>();
      const jims = new Map<string, string>();
      const lastApplied = new Map<string, number>();
      const seqsSeen = new Map<string, number[]>();

      const apply = async (kind: 'up' | 'down', ip: string, user: string) => {
        now += 10;
        const r = await runSessionScript(db.redis, prefix, ipKey(ip), line(kind, { ip, user, receivedAt: now }), rules, now);
        for (const event of r.events) {
          const e = { key: ipKey(ip), event, order: order++ };
          emitted.push(e);
          queued.push(e);
          seqsSeen.set(e.key, [...(seqsSeen.get(e.key) ?? []), event.seq]);
        }
      };
      /** One push attempt through the real guard; JIMS applies what it lets through. */
      const push = async (e: Emitted) => {
        const token = `t${e.order}-${now}`;
        const req = { ipKey: e.key, seq: e.event.seq, token, ttlMs: 60_000, previousJobKey: `${ks.tag}:none`, createdAt: 0 };
        const turn = await guard.acquire(req, now, 0);
        if (turn.state === 'acquired') {
          // The property: an IP's events reach JIMS only in the order they were emitted.
          expect(e.order).toBeGreaterThan(lastApplied.get(e.key) ?? -1);
          lastApplied.set(e.key, e.order);
          if (e.event.kind === 'disconnect') jims.delete(e.event.ip);
          else jims.set(e.event.ip, e.event.user);
          await guard.delivered(e.key, e.event.seq, token);
        }
        return turn.state === 'acquired' || turn.state === 'superseded';
      };
      const prune = async () => {
        now += WINDOW_MS + 1;
        await pruneEnded(db.redis, prefix, { reorderWindowMs: WINDOW_MS, pendingLimitMs: 3_600_000 }, now);
      };

      for (const cmd of cmds) {
        if (cmd.op === 'line') await apply(cmd.kind, IPS[cmd.ip]!, cmd.user);
        else if (cmd.op === 'prune') await prune();
        else if (cmd.op === 'duplicate' && emitted.length > 0) queued.push(emitted[cmd.pick % emitted.length]!);
        else if (queued.length > 0) {
          const i = cmd.pick % queued.length;
          const e = queued[i]!;
          if (cmd.op === 'push' && !(await push(e))) continue;
          if (cmd.op === 'deadLetter') {
            // Failed for good: BullMQ marks the job finished; pruning may then let the IP go.
            await db.redis.hset(`${ks.tag}:${ks.queueName}:${jobId(e.key, e.event.seq)}`, 'finishedOn', String(now));
            deadLettered.add(e);
          }
          queued = queued.filter((_, j) => j !== i);
        }
      }

      // Seqs only grow per IP, across pruning.
      for (const seqs of seqsSeen.values())
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b).filter((s, i, a) => a.indexOf(s) === i));
      // Nothing due was lost to pruning: push what is queued (a pass may meet a job twice), and
      // JIMS ends with each IP's last emitted state unless that push was dead-lettered.
      await prune();
      for (const e of [...queued].sort((a, b) => a.order - b.order)) await push(e);
      for (const ip of IPS) {
        const mine = emitted.filter((e) => e.event.ip === ip);
        const last = mine[mine.length - 1];
        if (!last || deadLettered.has(last)) continue;
        const session = await db.redis.hget(ks.session(ipKey(ip)), 'user');
        expect(jims.get(ip)).toBe(session ?? undefined);
      }
      // Once every session ends and is pushed, pruning leaves no per-IP bookkeeping at all.
      for (const ip of IPS) {
        const user = await db.redis.hget(ks.session(ipKey(ip)), 'user');
        if (user !== null) await apply('down', ip, user);
      }
      for (const e of queued.splice(0)) await push(e);
      await prune();
      const sizes = await Promise.all(
        [ks.seqs, ks.delivered, ks.attempted, ks.lastAt].map((k) => db.redis.hlen(k)).concat(db.redis.zcard(ks.ended)),
      );
      expect(sizes).toEqual([0, 0, 0, 0, 0]);
    }),
    { numRuns: 120 },
  );
});
