// Operator queries on the push queue for the CLI: the failed set (dead letters) and queue
// depth. Read-mostly; retry and purge act only on the failed set.
import type { RedisClient } from '../redis/connection.js';
import { keyspace } from '../redis/keys.js';
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

/** The newest `limit` failed jobs first. */
export async function listFailed(queue: PushQueue, opts: { limit: number }): Promise<FailedJobRow[]> {
  if (opts.limit <= 0) return [];
  const jobs = await queue.getFailed(0, opts.limit - 1);
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
export async function retryFailed(queue: PushQueue, opts: { jobIds: readonly string[] } | { all: true }): Promise<RetryResult> {
  if ('all' in opts) {
    const total = await queue.getFailedCount();
    await queue.retryJobs({ state: 'failed', count: 1000 });
    return { retried: [], skipped: [], total };
  }
  const retried: string[] = [];
  const skipped: { jobId: string; reason: string }[] = [];
  for (const id of opts.jobIds) {
    const job = await queue.getJob(id);
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

/** Removes failed jobs that failed more than `olderThanSecs` ago (all when omitted); returns their ids. */
export async function purgeFailed(queue: PushQueue, opts: { olderThanSecs?: number } = {}): Promise<string[]> {
  const graceMs = Math.max(0, (opts.olderThanSecs ?? 0) * 1000);
  return queue.clean(graceMs, 0, 'failed');
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

export async function queueStats(queue: PushQueue, redis: RedisClient, keyPrefix: string): Promise<QueueStats> {
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
