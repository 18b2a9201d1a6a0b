// The per-IP ordering guard in Redis: one push in flight per IP (a short lock), "latest wins",
// and no overtaking of an IP's previous event still queued. Each step is a Lua script so replicas
// never interleave halfway; the calls made by concurrent jobs in one turn of the event loop go in
// one script call (applied in call order, so it is as if they ran one after another). All keys
// share the keyspace hash tag, so this also works on Redis Cluster.
//
// Besides deliveredSeq the guard keeps attemptedSeq, the highest seq whose push was started: a
// push that ended in "retry" may still have been applied by JIMS (a timeout after the write), so
// an older event must not be sent after it either. Same-seq re-attempts (the job's own retries, a
// re-relayed duplicate) stay allowed until that seq is delivered.
import type { RedisClient } from '../redis/connection.js';
import { keyspace } from '../redis/keys.js';
import { runScript } from '../redis/script.js';
import { Coalescer } from './coalesce.js';
import { NO_REPLICA_ACK, REPLY_TIMEOUT_MS, awaitReplicas, type ReplicaAck } from '../redis/replication.js';

// An IP whose bookkeeping was pruned (no seq left, see sessions/prune.ts) has had every seq it
// ever had handled, and they are all at or below the seq floor: the guard reads its deliveredSeq
// as the floor, so a late duplicate of an old job is superseded. A new chain of the IP starts
// above the floor with its deliveredSeq set to it (the session script).
const DELIVERED_OF = `
local function deliveredOf(deliveredKey, seqKey, floorKey, ipk)
  local d = redis.call('HGET', deliveredKey, ipk)
  if d then return tonumber(d) end
  if redis.call('HEXISTS', seqKey, ipk) == 1 then return 0 end
  return tonumber(redis.call('GET', floorKey) or '0')
end
`;

// Per input, in order: superseded is decided first (an old job needs no lock to be dropped), then
// whether the IP's previous seq is still queued (its job exists and has not finished) or not
// relayed yet (no job and not handled: wait, but at most waitMs from the job's creation), then the lock.
// KEYS: delivered, attempted, seqs, seq floor, then per input: lock, previous job hash.
// ARGV: now, waitMs, then per input: ipKey, seq, token, ttlMs, createdAt.
// Reply per input: {state, deliveredSeq[, again]}; state 0 superseded, 1 acquired, 2 locked, 3 predecessor
// pending; again = 1 when a push of this seq was started before (acquired only).
const ACQUIRE = `${DELIVERED_OF}
local now, waitMs = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for j = 1, (#KEYS - 4) / 2 do
  local lockKey, prevJobKey = KEYS[3 + 2 * j], KEYS[4 + 2 * j]
  local a0 = 2 + (j - 1) * 5
  local ipk, s, token, ttl, createdAt = ARGV[a0 + 1], tonumber(ARGV[a0 + 2]), ARGV[a0 + 3], ARGV[a0 + 4], tonumber(ARGV[a0 + 5])
  local d = deliveredOf(KEYS[1], KEYS[3], KEYS[4], ipk)
  local a = tonumber(redis.call('HGET', KEYS[2], ipk) or '0')
  local r
  if s <= d or s < a then
    r = {0, math.max(d, a)}
  elseif s > 1 and d < s - 1 and redis.call('EXISTS', prevJobKey) == 1 then
    -- BullMQ sets finishedOn when a job completes or fails for good, never on a retry.
    if redis.call('HEXISTS', prevJobKey, 'finishedOn') == 0 then r = {3, d} end
  elseif s > 1 and math.max(d, a) < s - 1 and now - createdAt < waitMs then
    r = {3, d}
  end
  if not r then
    if redis.call('SET', lockKey, token, 'NX', 'PX', ttl) then
      if s > a then redis.call('HSET', KEYS[2], ipk, s) end
      r = {1, d, s == a and 1 or 0}
    else
      r = {2, d}
    end
  end
  out[j] = r
end
return out
`;

// max() rather than set: a delayed duplicate must never move deliveredSeq backwards (nor bring
// back bookkeeping that was pruned meanwhile).
// KEYS: delivered, seqs, seq floor, then per input: lock. ARGV per input: ipKey, seq, token.
const DELIVERED = `${DELIVERED_OF}
for j = 1, #KEYS - 3 do
  local ipk, s, token = ARGV[3 * j - 2], tonumber(ARGV[3 * j - 1]), ARGV[3 * j]
  if s > deliveredOf(KEYS[1], KEYS[2], KEYS[3], ipk) then redis.call('HSET', KEYS[1], ipk, s) end
  if redis.call('GET', KEYS[j + 3]) == token then redis.call('DEL', KEYS[j + 3]) end
end
return 1
`;

// Only our own lock: after a TTL expiry another worker may hold it now.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const COMMANDS = { ptimGuardAcquire: ACQUIRE, ptimGuardDelivered: DELIVERED, ptimGuardRelease: RELEASE };
type CommandName = keyof typeof COMMANDS;

/** Calls one of the guard scripts. */
const script = (redis: RedisClient, name: CommandName, keys: string[], args: (string | number)[]): Promise<unknown> =>
  runScript(redis, name, COMMANDS[name], keys, args);

export type AcquireState = 'superseded' | 'acquired' | 'locked' | 'predecessor-pending';
export interface AcquireResult {
  readonly state: AcquireState;
  readonly deliveredSeq: number;
  /** Acquired for a seq whose push was started before (a retry, a re-run after a crash or failover). */
  readonly again?: boolean;
}
const STATES: readonly AcquireState[] = ['superseded', 'acquired', 'locked', 'predecessor-pending'];

export interface AcquireRequest {
  readonly ipKey: string;
  readonly seq: number;
  /** The lock's value: only this holder may release it. */
  readonly token: string;
  readonly ttlMs: number;
  /** Redis key of the job of the IP's previous seq (BullMQ's job hash). */
  readonly previousJobKey: string;
  /** When this job was created (ms): a predecessor that was never relayed is waited for at most `waitMs` from then. */
  readonly createdAt: number;
}

export interface OrderingGuard {
  /**
   * Superseded when seq ≤ deliveredSeq or seq < attemptedSeq (deliveredSeq reports the higher of
   * the two then); predecessor-pending while the previous seq's job is queued, or not relayed yet
   * for less than `waitMs`; otherwise tries to take the IP's lock with `token` and raises attemptedSeq.
   */
  acquire(req: AcquireRequest, now: number, waitMs: number): Promise<AcquireResult>;
  /** deliveredSeq = max(deliveredSeq, seq) and releases the lock if still ours, atomically. */
  delivered(ipKey: string, seq: number, token: string): Promise<void>;
  release(ipKey: string, token: string): Promise<void>;
  /** Of a pruned IP: the seq floor (every seq it had is handled). */
  deliveredSeq(ipKey: string): Promise<number>;
}

export function createOrderingGuard(redis: RedisClient, keyPrefix: string, ack: ReplicaAck = NO_REPLICA_ACK): OrderingGuard {
  const ks = keyspace(keyPrefix);
  // Requests of one turn that share `now` and `waitMs` go together (they do: one worker, one clock).
  const acquires = new Coalescer<{ req: AcquireRequest; now: number; waitMs: number }, AcquireResult>(async (items) => {
    const keys = [ks.delivered, ks.attempted, ks.seqs, ks.seqFloor];
    const first = items[0] as (typeof items)[number];
    const args: (string | number)[] = [first.now, first.waitMs];
    for (const { req } of items) {
      keys.push(ks.lock(req.ipKey), req.previousJobKey);
      args.push(req.ipKey, req.seq, req.token, req.ttlMs, req.createdAt);
    }
    const reply = (await script(redis, 'ptimGuardAcquire', keys, args)) as [number, number, number?][];
    // The attempt mark must survive a failover before a push may go out, or the new master could
    // let an older seq follow it (see redis/replication.ts).
    await awaitReplicas(redis, ks.attempted, ack, REPLY_TIMEOUT_MS + ack.timeoutMs);
    return reply.map(([state, d, again]) => ({
      state: STATES[state] as AcquireState,
      deliveredSeq: Number(d),
      ...(again === 1 ? { again: true } : {}),
    }));
  });
  const deliveries = new Coalescer<{ ipKey: string; seq: number; token: string }, void>(async (items) => {
    const keys = [ks.delivered, ks.seqs, ks.seqFloor, ...items.map((i) => ks.lock(i.ipKey))];
    await script(
      redis,
      'ptimGuardDelivered',
      keys,
      items.flatMap((i) => [i.ipKey, i.seq, i.token]),
    );
    return items.map(() => undefined);
  });
  return {
    acquire: (req, now, waitMs) => acquires.call({ req, now, waitMs }),
    delivered: (ipKey, seq, token) => deliveries.call({ ipKey, seq, token }),
    async release(ipKey, token) {
      await script(redis, 'ptimGuardRelease', [ks.lock(ipKey)], [token]);
    },
    async deliveredSeq(ipKey) {
      const [d, tracked, floor] = await Promise.all([
        redis.hget(ks.delivered, ipKey),
        redis.hexists(ks.seqs, ipKey),
        redis.get(ks.seqFloor),
      ]);
      return Number(d ?? (tracked ? 0 : (floor ?? 0)));
    },
  };
}
