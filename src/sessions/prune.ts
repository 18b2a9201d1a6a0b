// Prunes the bookkeeping of IPs whose session ended, so Redis holds state for active sessions and
// recently ended IPs only, not for every IP ever seen. An ended IP keeps its seq, its ordering
// guard marks (delivered, attempted) and its last line's receive time (the out-of-order check) in
// the `ended` index until all three of these hold, re-checked atomically by one script:
//
// * it ended more than `sessions.reorderWindowMs` ago (a line delayed by another replica can still
//   be ordered against it until then);
// * its last seq was delivered, or that push's job finished (failed for good), or it is older than
//   `pendingLimitMs` (no push can still be waiting: events that old are given up);
// * no push holds its lock.
//
// Pruning raises the keyspace's seq floor to the IP's last seq. The IP's next seq starts above the
// floor, and the guard reads a pruned IP's deliveredSeq as the floor (queue/ordering.ts): a late
// duplicate of any of its old jobs is superseded, never pushed after a newer state.
import type { RedisClient } from '../redis/connection.js';
import { jobId, keyspace, type Keyspace } from '../redis/keys.js';
import { runScript } from '../redis/script.js';

// KEYS: ended, seqs, delivered, attempted, lastAt, seq floor, then per candidate: session, lock,
// job hash of its last seq. ARGV: cutoff, staleBefore, then per candidate: ipKey, seq as read.
// Reply per candidate: 'pruned', 'pending' (a push may still come) or 'moved' (changed since read).
const PRUNE = `
local cutoff, staleBefore = tonumber(ARGV[1]), tonumber(ARGV[2])
local endedKey, seqKey, deliveredKey, attemptedKey, lastKey, floorKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local floor = tonumber(redis.call('GET', floorKey) or '0')
local raised = false
local out = {}
local function pending(ipk, seq, score, lockKey, jobKey)
  if redis.call('EXISTS', lockKey) == 1 then return true end
  if seq == 0 or score < staleBefore then return false end
  if tonumber(redis.call('HGET', deliveredKey, ipk) or '0') >= seq then return false end
  return redis.call('HEXISTS', jobKey, 'finishedOn') == 0
end
for j = 1, (#KEYS - 6) / 3 do
  local sKey, lockKey, jobKey = KEYS[4 + 3 * j], KEYS[5 + 3 * j], KEYS[6 + 3 * j]
  local ipk, readSeq = ARGV[1 + 2 * j], tonumber(ARGV[2 + 2 * j])
  local score = redis.call('ZSCORE', endedKey, ipk)
  score = score and tonumber(score) or cutoff
  local seq = tonumber(redis.call('HGET', seqKey, ipk) or '0')
  local r
  if score >= cutoff or seq ~= readSeq then r = 'moved'
  elseif redis.call('EXISTS', sKey) == 1 then redis.call('ZREM', endedKey, ipk); r = 'moved'
  elseif pending(ipk, seq, score, lockKey, jobKey) then r = 'pending'
  else
    redis.call('HDEL', seqKey, ipk)
    redis.call('HDEL', deliveredKey, ipk)
    redis.call('HDEL', attemptedKey, ipk)
    redis.call('HDEL', lastKey, ipk)
    redis.call('ZREM', endedKey, ipk)
    if seq > floor then floor = seq; raised = true end
    r = 'pruned'
  end
  out[j] = r
end
if raised then redis.call('SET', floorKey, floor) end
return out
`;

const COMMAND = 'ptimPrune';

export interface PruneOptions {
  /** How long an ended IP's last line is kept for the out-of-order check (`sessions.reorderWindowMs`). */
  readonly reorderWindowMs: number;
  /** Past this age (ms since it ended) an undelivered last push no longer keeps an IP (queue.maxEventAgeSecs). */
  readonly pendingLimitMs: number;
  /** Candidates per round trip. */
  readonly batchSize?: number;
}

export interface PruneCounts {
  pruned: number;
  /** Ended long enough, but a push may still come: kept, looked at again next pass. */
  pending: number;
}

/** The job hash of an IP's seq (BullMQ's key naming: `<prefix>:<queue>:<jobId>`). */
function jobKey(ks: Keyspace, key: string, seq: number): string {
  return `${ks.tag}:${ks.queueName}:${jobId(key, seq)}`;
}

async function pruneBatch(redis: RedisClient, ks: Keyspace, keys: string[], cutoff: number, staleBefore: number) {
  const seqs = await redis.hmget(ks.seqs, ...keys);
  const scriptKeys = [ks.ended, ks.seqs, ks.delivered, ks.attempted, ks.lastAt, ks.seqFloor];
  const args: (string | number)[] = [cutoff, staleBefore];
  keys.forEach((key, i) => {
    const seq = Number(seqs[i] ?? 0);
    scriptKeys.push(ks.session(key), ks.lock(key), jobKey(ks, key, seq));
    args.push(key, seq);
  });
  return runScript<string[]>(redis, COMMAND, PRUNE, scriptKeys, args);
}

/**
 * One pass over the IPs that ended before `now − reorderWindowMs`, oldest first, in batches.
 * Constant memory: one batch at a time; kept (pending) candidates are stepped over.
 */
export async function pruneEnded(redis: RedisClient, keyPrefix: string, opts: PruneOptions, now: number): Promise<PruneCounts> {
  const ks = keyspace(keyPrefix);
  const batchSize = opts.batchSize ?? 500;
  const cutoff = now - opts.reorderWindowMs;
  const staleBefore = now - opts.pendingLimitMs;
  const counts: PruneCounts = { pruned: 0, pending: 0 };
  let offset = 0;
  for (;;) {
    const keys = await redis.zrangebyscore(ks.ended, '-inf', `(${cutoff}`, 'LIMIT', offset, batchSize);
    if (keys.length === 0) break;
    const replies = await pruneBatch(redis, ks, keys, cutoff, staleBefore);
    const pruned = replies.filter((r) => r === 'pruned').length;
    counts.pruned += pruned;
    counts.pending += replies.filter((r) => r === 'pending').length;
    // Pruned and moved candidates left the range; the kept ones are stepped over.
    offset += replies.filter((r) => r === 'pending').length;
    if (keys.length < batchSize) break;
  }
  return counts;
}
