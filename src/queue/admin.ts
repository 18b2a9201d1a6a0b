// Operator queries on the push queue for the CLI: the failed set (dead letters) and queue
// depth. Read-mostly; retry and purge act only on the failed set. With several shards (one queue
// each) every query covers all of them.
import type { RedisClient } from '../redis/connection.js';
import { keyspace } from '../redis/keys.js';
import { asShards, type Shards } from '../redis/shards.js';
import type { IdentityEventKind } from '../types.js';
import type { EventJobData, PushQueue } from './jobs.js';

export interface FailedJobRow {
  readonly jobId: string;
  readonly ip: string;
  readonly user: string;
  readonly kind: IdentityEventKind;
  readonly seq: number;
  readonly failedReason: string;
  readonly attemptsMade: number;
  /** When the job was created (ms). */
  readonly timestamp: number;
  /** When it failed (ms), if known. */
  readonly finishedOn: number | undefined;
}

/** The push queue, or each shard's. */
export type PushQueues = PushQueue | readonly PushQueue[];
const all = (q: PushQueues): readonly PushQueue[] => (Array.isArray(q) ? q : [q as PushQueue]);

/** The newest `limit` failed jobs first (across shards: by when they failed). */
export async function listFailed(queues: PushQueues, opts: { limit: number }): Promise<FailedJobRow[]> {
  if (opts.limit <= 0) return [];
  const rows = (await Promise.all(all(queues).map((q) => failedRows(q, opts.limit)))).flat();
  if (all(queues).length > 1) rows.sort((a, b) => (b.finishedOn ?? b.timestamp) - (a.finishedOn ?? a.timestamp));
  return rows.slice(0, opts.limit);
}

async function failedRows(queue: PushQueue, limit: number): Promise<FailedJobRow[]> {
  const jobs = await queue.getFailed(0, limit - 1);
  // Only one-event jobs fail: a batch job hands every event it cannot finish to a job of its own.
  return jobs.map((j) => ({
    jobId: j.id ?? '',
    ip: (j.data as EventJobData | undefined)?.ip ?? '',
    user: (j.data as EventJobData | undefined)?.user ?? '',
    kind: (j.data as EventJobData).kind,
    seq: (j.data as EventJobData).seq,
    failedReason: j.failedReason ?? '',
    attemptsMade: j.attemptsMade,
    timestamp: j.timestamp,
    finishedOn: j.finishedOn,
  }));
}

export interface RetryResult {
  readonly retried: readonly string[];
  /** Ids that do not exist or are not in the failed set. */
  readonly skipped: readonly { readonly jobId: string; readonly reason: string }[];
  /** With `all`: how many were in the failed set when the retry began. */
  readonly total?: number;
}

/**
 * Moves failed jobs back to wait. A retried job still passes the ordering guard, so retrying an
 * event that a newer one has overtaken completes it as superseded instead of pushing it.
 */
export async function retryFailed(queues: PushQueues, opts: { jobIds: readonly string[] } | { all: true }): Promise<RetryResult> {
  if ('all' in opts) {
    let total = 0;
    for (const queue of all(queues)) {
      total += await queue.getFailedCount();
      await queue.retryJobs({ state: 'failed', count: 1000 });
    }
    return { retried: [], skipped: [], total };
  }
  const retried: string[] = [];
  const skipped: { jobId: string; reason: string }[] = [];
  for (const id of opts.jobIds) {
    const job = await findJob(queues, id);
    if (!job) {
      skipped.push({ jobId: id, reason: 'not found' });
      continue;
    }
    if (!(await job.isFailed())) {
      skipped.push({ jobId: id, reason: `not failed (${await job.getState()})` });
      continue;
    }
    // A fresh attempt count: the operator is starting the event over.
    await job.retry('failed', { resetAttemptsMade: true });
    retried.push(id);
  }
  return { retried, skipped };
}

/** The job with this id in whichever shard's queue holds it. */
async function findJob(queues: PushQueues, id: string) {
  for (const queue of all(queues)) {
    const job = await queue.getJob(id);
    if (job) return job;
  }
  return undefined;
}

/** Removes failed jobs that failed more than `olderThanSecs` ago (all when omitted); returns their ids. */
export async function purgeFailed(queues: PushQueues, opts: { olderThanSecs?: number } = {}): Promise<string[]> {
  const graceMs = Math.max(0, (opts.olderThanSecs ?? 0) * 1000);
  return (await Promise.all(all(queues).map((q) => q.clean(graceMs, 0, 'failed')))).flat();
}

export interface QueueStats {
  readonly waiting: number;
  readonly delayed: number;
  readonly active: number;
  readonly failed: number;
  readonly completed: number;
  readonly paused: number;
  /** Identity events written by the session engine but not yet relayed into the queue. */
  readonly outbox: number;
}

/** The queues' and outboxes' counts, summed over shards (`queues[i]` is shard i's queue). */
export async function queueStats(queues: PushQueues, redis: RedisClient, keyPrefix: string | Shards): Promise<QueueStats> {
  const prefixes = asShards(keyPrefix).prefixes;
  return sumStats(await Promise.all(all(queues).map((q, i) => shardQueueStats(q, redis, prefixes[i]!))));
}

/** Shards' counts added up. */
export function sumStats(per: readonly QueueStats[]): QueueStats {
  const sum = (k: keyof QueueStats) => per.reduce((s, x) => s + x[k], 0);
  return {
    waiting: sum('waiting'),
    delayed: sum('delayed'),
    active: sum('active'),
    failed: sum('failed'),
    completed: sum('completed'),
    paused: sum('paused'),
    outbox: sum('outbox'),
  };
}

/** One shard's queue and outbox counts. */
export async function shardQueueStats(queue: PushQueue, redis: RedisClient, keyPrefix: string): Promise<QueueStats> {
  const [counts, outbox] = await Promise.all([
    queue.getJobCounts('waiting', 'delayed', 'active', 'failed', 'completed', 'paused', 'prioritized'),
    redis.xlen(keyspace(keyPrefix).outbox),
  ]);
  const n = (k: string) => counts[k] ?? 0;
  return {
    // Prioritized jobs are waiting too; the bridge sets no priorities, but never hide a job.
    waiting: n('waiting') + n('prioritized'),
    delayed: n('delayed'),
    active: n('active'),
    failed: n('failed'),
    completed: n('completed'),
    paused: n('paused'),
    outbox,
  };
}
