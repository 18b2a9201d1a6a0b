// The push queue's shared vocabulary: queue construction, job options, the job-id ↔ ipKey
// mapping and the error that asks BullMQ for a retry. Relay, workers and admin all use it so
// they cannot disagree about names or options.
import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../redis/connection.js';
import type { QueueConfig } from '../config/schema.js';
import { ignoreEvents, type Emit } from '../events.js';
import type { IdentityEvent } from '../types.js';
import { jobId, keyspace } from '../redis/keys.js';

/** Name of our custom backoff strategy in `job.opts.backoff.type`. */
export const PUSH_BACKOFF_TYPE = 'ptim';

/**
 * Attempts are bounded by event age (maxEventAgeSecs), not by a count; BullMQ still needs a
 * number, so this one is out of reach (decades at the smallest sensible backoff).
 */
export const UNLIMITED_ATTEMPTS = 2_147_483_647;

export type PushQueue = Queue<PushJobData, unknown, string>;

/** The BullMQ queue of identity pushes; its keys carry our hash tag so they share one slot. */
export function createPushQueue(connection: RedisClient, keyPrefix: string, emit: Emit = ignoreEvents): PushQueue {
  const ks = keyspace(keyPrefix);
  const queue = new Queue<PushJobData, unknown, string>(ks.queueName, { connection, prefix: ks.tag });
  // An 'error' event without a listener would throw and end the process on a Redis hiccup.
  queue.on('error', (err: Error) => emit('push_queue_error', { err }));
  return queue;
}

export function pushJobOptions(cfg: Pick<QueueConfig, 'keepCompletedJobs'>, key: string, seq: number): JobsOptions {
  return {
    jobId: jobId(key, seq),
    attempts: UNLIMITED_ATTEMPTS,
    backoff: { type: PUSH_BACKOFF_TYPE },
    removeOnComplete: cfg.keepCompletedJobs === 0 ? true : { count: cfg.keepCompletedJobs },
    // Failed jobs are the dead-letter set the operator inspects; never drop them automatically.
    removeOnFail: false,
  };
}

/** Name of a job holding several events (first attempts); every other job holds one event. */
export const BATCH_JOB = 'batch';

export interface BatchJobData {
  /** In outbox order, with the session key each event's job id would carry. */
  readonly events: { readonly ipKey: string; readonly event: IdentityEvent }[];
}

/**
 * A one-event job. `refused` is set when the event's first attempt (in a batch job) was refused for
 * good: the job then fails at once with that reason, so it lands in the failed set like any other.
 */
export type EventJobData = IdentityEvent & { readonly refused?: string };

export type PushJobData = EventJobData | BatchJobData;

/** Options of a batch job: named after its first outbox entry, kept and retried like an event's job. */
export function batchJobOptions(cfg: Pick<QueueConfig, 'keepCompletedJobs'>, firstEntryId: string, count: number): JobsOptions {
  return { ...pushJobOptions(cfg, 'batch', 0), jobId: `batch_${firstEntryId.replace('-', '_')}_${count}` };
}

/** The ipKey a job id was built from (`<ipKey>-<seq>`; seq never contains `-`). */
export function ipKeyOfJobId(id: string): string {
  const i = id.lastIndexOf('-');
  return i > 0 ? id.slice(0, i) : id;
}

/** Thrown by the processor for a retryable outcome; the backoff strategy reads `retryAfterMs`. */
export class PushRetryError extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'PushRetryError';
    this.retryAfterMs = retryAfterMs;
  }
}
