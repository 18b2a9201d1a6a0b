// The per-IP ordering guard in Redis: one push in flight per IP (a short lock) and "latest wins".
// Each step is one Lua script so replicas never interleave halfway. All keys share the keyspace
// hash tag, so this also works on Redis Cluster.
//
// Besides deliveredSeq the guard keeps attemptedSeq, the highest seq whose push was started: a
// push that ended in "retry" may still have been applied by JIMS (a timeout after the write), so
// an older event must not be sent after it either. Same-seq re-attempts (the job's own retries, a
// re-relayed duplicate) stay allowed until that seq is delivered.
import { createHash } from 'node:crypto';
import type { RedisClient as Redis } from '../redis/connection.js';
import { keyspace } from '../redis/keys.js';
import { NO_REPLICA_ACK, execReplicated, queueReplicaWait, type ReplicaAck } from '../redis/replication.js';

// Superseded is decided before the lock: an old job needs no lock to be dropped.
// KEYS: delivered, lock, attempted. ARGV: ipKey, seq, token, ttlMs.
const ACQUIRE = `
local d = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local a = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
local s = tonumber(ARGV[2])
if s <= d or s < a then return {0, math.max(d, a)} end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
  if s > a then redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) end
  return {1, d, s == a and 1 or 0}
end
return {2, d}
`;

// max() rather than set: a delayed duplicate must never move deliveredSeq backwards.
const DELIVERED = `
local d = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > d then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
`;

// Only our own lock: after a TTL expiry another worker may hold it now.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
const SHAS = new Map([ACQUIRE, DELIVERED, RELEASE].map((s) => [s, sha1(s)]));

async function run(redis: Redis, script: string, keys: string[], args: (string | number)[]): Promise<unknown> {
  const sha = SHAS.get(script) ?? sha1(script);
  try {
    return await redis.evalsha(sha, keys.length, ...keys, ...args);
  } catch (e) {
    if (!String((e as Error).message).includes('NOSCRIPT')) throw e;
    return redis.eval(script, keys.length, ...keys, ...args);
  }
}

/**
 * Like `run`, with WAIT for `ack` replicas in the same pipeline: the attempt mark must survive a
 * failover before a push may go out, or the new master could let an older seq follow it.
 */
async function runAcked(redis: Redis, script: string, keys: string[], args: (string | number)[], ack: ReplicaAck) {
  if (ack.replicas === 0) return run(redis, script, keys, args);
  const sha = SHAS.get(script) ?? sha1(script);
  for (const useEval of [false, true]) {
    const p = redis.pipeline();
    if (useEval) p.eval(script, keys.length, ...keys, ...args);
    else p.evalsha(sha, keys.length, ...keys, ...args);
    queueReplicaWait(p, ack);
    const [first] = await execReplicated(redis, p, ack, 10_000 + ack.timeoutMs);
    const [err, reply] = first ?? [new Error('no reply'), undefined];
    if (!err) return reply;
    if (useEval || !String(err.message).includes('NOSCRIPT')) throw err;
  }
  return undefined;
}

export type AcquireResult =
  | { readonly state: 'superseded'; readonly deliveredSeq: number }
  /** `again`: a push of this seq was started before (a retry, or a re-run after a crash or failover). */
  | { readonly state: 'acquired'; readonly deliveredSeq: number; readonly again: boolean }
  | { readonly state: 'locked'; readonly deliveredSeq: number };

export interface OrderingGuard {
  /**
   * Superseded when seq ≤ deliveredSeq or seq < attemptedSeq (deliveredSeq reports the higher of
   * the two then); otherwise tries to take the IP's lock with `token` and raises attemptedSeq.
   */
  acquire(ipKey: string, seq: number, token: string, ttlMs: number): Promise<AcquireResult>;
  /** deliveredSeq = max(deliveredSeq, seq) and releases the lock if still ours, atomically. */
  delivered(ipKey: string, seq: number, token: string): Promise<void>;
  release(ipKey: string, token: string): Promise<void>;
  deliveredSeq(ipKey: string): Promise<number>;
  /** max(deliveredSeq, attemptedSeq): every seq up to this one was pushed, attempted or superseded. */
  handledThrough(ipKey: string): Promise<number>;
}

export function createOrderingGuard(redis: Redis, keyPrefix: string, ack: ReplicaAck = NO_REPLICA_ACK): OrderingGuard {
  const ks = keyspace(keyPrefix);
  return {
    async acquire(ipKey, seq, token, ttlMs) {
      const keys = [ks.delivered, ks.lock(ipKey), ks.attempted];
      const reply = (await runAcked(redis, ACQUIRE, keys, [ipKey, seq, token, ttlMs], ack)) as [number, number, number?];
      const deliveredSeq = Number(reply[1]);
      if (reply[0] === 1) return { state: 'acquired', deliveredSeq, again: reply[2] === 1 };
      return reply[0] === 0 ? { state: 'superseded', deliveredSeq } : { state: 'locked', deliveredSeq };
    },
    async delivered(ipKey, seq, token) {
      await run(redis, DELIVERED, [ks.delivered, ks.lock(ipKey)], [ipKey, seq, token]);
    },
    async release(ipKey, token) {
      await run(redis, RELEASE, [ks.lock(ipKey)], [token]);
    },
    async deliveredSeq(ipKey) {
      return Number((await redis.hget(ks.delivered, ipKey)) ?? 0);
    },
    async handledThrough(ipKey) {
      const [d, a] = await Promise.all([redis.hget(ks.delivered, ipKey), redis.hget(ks.attempted, ipKey)]);
      return Math.max(Number(d ?? 0), Number(a ?? 0));
    },
  };
}
