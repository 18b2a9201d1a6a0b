// Push workers: take identity events off the BullMQ queue and hand them to the JIMS pusher,
// with one push per IP in flight across all replicas, latest-wins ordering, and retries that
// BullMQ schedules with our backoff until the event is too old.
//
// Parts: `takeTurn` (the ordering guard: superseded, wait for the predecessor or the lock, or go),
// `pushWhileHolding` (the push, with the lock released on every path), `settleOutcome` (what a
// push outcome means for the job: result, retry or give up) and the BullMQ worker around them.
import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { DelayedError, UnrecoverableError, Worker } from 'bullmq';
import type { RedisClient } from '../redis/connection.js';
import type { QueueConfig } from '../config/schema.js';
import { createEvents, type Emit } from '../events.js';
import { silentLogger, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { keyspace } from '../redis/keys.js';
import { systemClock, type Clock, type IdentityEvent, type IdentityPusher } from '../types.js';
import { retryDelayMs } from './backoff.js';
import { handleBatch, type BatchDeps, type BatchJobResult } from './batch.js';
import {
  BATCH_JOB,
  createPushQueue,
  ipKeyOfJobId,
  PushRetryError,
  type BatchJobData,
  type EventJobData,
  type PushJobData,
} from './jobs.js';
import { createOrderingGuard, type OrderingGuard } from './ordering.js';
import type { ReplicaAck } from '../redis/replication.js';
import {
  jobLine,
  pushOnce,
  settleOutcome,
  takeTurn,
  settleSuperseded,
  type JobLine,
  type PushJobResult,
  type PushOutcomeListener,
  type SettleDeps,
  type TurnDeps,
} from './attempt.js';

export type { PushJobResult } from './attempt.js';

/**
 * How long a job waits for its IP's previous seq when that job does not exist yet. The relay
 * reclaims a dead consumer's entries after 15 s, so this outlasts that with margin.
 */
export const MISSING_PREDECESSOR_WAIT_MS = 60_000;

export interface PushWorkersOptions {
  /** A worker-role connection (maxRetriesPerRequest: null); BullMQ duplicates it for blocking reads. */
  connection: RedisClient;
  queue: Pick<
    QueueConfig,
    'concurrency' | 'maxEventAgeSecs' | 'retryBaseDelaySecs' | 'retryMaxDelaySecs' | 'ipLockTtlSecs' | 'keepCompletedJobs'
  >;
  keyPrefix: string;
  pusher: IdentityPusher;
  metrics: Metrics;
  logger?: Logger;
  /** Event age and latency. */
  clock: Clock;
  /**
   * BullMQ schedules delayed jobs and stamps job creation by real time, so the delays this code
   * asks for and the predecessor wait are computed on this clock (default: the system clock),
   * not on the event clock, which tests set to fixed instants.
   */
  schedulerClock?: Clock;
  /** Jitter source (tests seed it). */
  random?: () => number;
  /** How long a job waits when its IP's lock is taken (plus up to as much again of jitter). */
  lockRetryDelayMs?: number;
  /** How long a job waits for a predecessor job that does not exist yet (default MISSING_PREDECESSOR_WAIT_MS). */
  missingPredecessorWaitMs?: number;
  /** Start fetching jobs at once (default true). */
  autorun?: boolean;
  /** Told of each event's push outcome, in single and batch jobs alike (the console's history). */
  onOutcome?: PushOutcomeListener;
  /** Replicas that must have the attempt mark before a push goes out (see redis/replication.ts). */
  replicaAck?: ReplicaAck;
}

export interface PushWorkers {
  readonly worker: Worker<PushJobData>;
  waitUntilReady(): Promise<void>;
  /** Stops fetching, lets in-flight pushes finish, then closes. */
  close(): Promise<void>;
  pause(): Promise<void>;
  resume(): void;
}

interface HandlerDeps {
  pusher: IdentityPusher;
  guard: OrderingGuard;
  metrics: Metrics;
  logger: Logger;
  releaseLock: (key: string, lockToken: string, line: JobLine) => Promise<void>;
  turn: TurnDeps;
  settle: SettleDeps;
  /** Names this process in lock tokens. */
  instance: string;
  /** When a job waiting for its turn comes back (scheduler time). */
  comeBackAt: () => number;
}

/** Releases an IP's lock if still ours; a failure is logged (the lock's TTL frees the IP anyway). */
function lockReleaser(guard: OrderingGuard, emit: Emit) {
  return (key: string, lockToken: string, line: JobLine): Promise<void> =>
    // Only the next push for this IP waits a little longer.
    guard.release(key, lockToken).catch((err: unknown) => emit('push_lock_release_failed', { ...line, err }));
}

/** The processor of one job: its turn, the push while holding the IP's lock, and what the outcome means. */
function jobHandler(deps: HandlerDeps) {
  const { guard, metrics, releaseLock } = deps;

  /** A delivery releases the lock with deliveredSeq; any other end releases it alone. */
  async function pushWhileHolding(key: string, ev: IdentityEvent, lockToken: string, line: JobLine): Promise<PushJobResult> {
    let released = false;
    try {
      const outcome = await pushOnce(deps.pusher, ev);
      if (outcome.result === 'delivered') {
        await guard.delivered(key, ev.seq, lockToken);
        released = true;
      }
      return settleOutcome(deps.settle, ev, outcome, line);
    } finally {
      if (!released) await releaseLock(key, lockToken, line);
    }
  }

  return async function handleJob(job: Job<EventJobData>, token?: string): Promise<PushJobResult> {
    // Refused at its first attempt in a batch job (already counted and logged there): fail it as
    // that attempt would have. A job the operator retries from the failed set is pushed again.
    if (job.data.refused !== undefined && job.attemptsStarted <= 1) throw new UnrecoverableError(job.data.refused);
    const { refused: _refused, ...ev } = job.data;
    const id = job.id ?? '';
    const key = ipKeyOfJobId(id);
    const line = jobLine(ev, id, job.attemptsMade + 1);
    const lockToken = `${deps.instance}:${id}:${job.attemptsStarted}`;
    const turn = await takeTurn(deps.turn, ev, key, job.timestamp, lockToken);
    if (turn.state === 'superseded') {
      settleSuperseded(deps.settle, ev, line, turn.deliveredSeq);
      return { result: 'superseded', deliveredSeq: turn.deliveredSeq };
    }
    if (turn.state !== 'acquired') {
      // Another push for this IP is in flight, or its previous event is still queued: come back
      // shortly. Not a failure, not an attempt.
      await job.moveToDelayed(deps.comeBackAt(), token);
      throw new DelayedError();
    }
    // At-least-once made visible: JIMS may see this seq twice (it applies the same state again).
    if (turn.again) metrics.pushReattempts.inc();
    return pushWhileHolding(key, ev, lockToken, line);
  };
}

/** Logs worker errors, and processor errors that are not push outcomes (BullMQ retries those). */
function watchWorker(worker: Worker<PushJobData>, emit: Emit): void {
  worker.on('error', (err) => emit('push_worker_error', { err }));
  worker.on('failed', (job, err) => {
    if (err instanceof PushRetryError || err instanceof UnrecoverableError || err instanceof DelayedError) return;
    emit('push_job_error', { jobId: job?.id, err });
  });
}

/** The BullMQ worker of the push queue, running `dispatch` for each job. */
function bullWorker(
  opts: PushWorkersOptions,
  dispatch: (job: Job<PushJobData>, token?: string) => Promise<PushJobResult | BatchJobResult>,
  backoffMs: (attemptsMade: number, err?: Error) => number,
): Worker<PushJobData> {
  const ks = keyspace(opts.keyPrefix);
  const lockTtlMs = opts.queue.ipLockTtlSecs * 1000;
  return new Worker<PushJobData>(ks.queueName, dispatch, {
    connection: opts.connection,
    prefix: ks.tag,
    concurrency: opts.queue.concurrency,
    autorun: opts.autorun ?? true,
    // A crashed worker's job stalls; it must go back to wait, never to failed (it was never tried).
    maxStalledCount: 1000,
    // A job's lock lives as long as its IP's push lock (BullMQ renews it while the process lives), and
    // stalls are looked for as often: after a crash, its in-flight pushes resume about when the IP
    // lock frees, not after BullMQ's fixed 30 s + 30 s. Defaults (ipLockTtlSecs 30) match BullMQ's.
    lockDuration: lockTtlMs,
    stalledInterval: lockTtlMs,
    settings: { backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => backoffMs(attemptsMade, err) },
  });
}

export function createPushWorkers(opts: PushWorkersOptions): PushWorkers {
  const { metrics, clock, queue: cfg } = opts;
  const logger = (opts.logger ?? silentLogger).child({ component: 'push' });
  const random = opts.random ?? Math.random;
  const schedulerClock = opts.schedulerClock ?? systemClock;
  const lockRetryDelayMs = opts.lockRetryDelayMs ?? 100;
  /** A busy IP or a pending predecessor: come back after the delay plus up to as much again of jitter. */
  const retryWaitMs = () => lockRetryDelayMs + Math.floor(random() * lockRetryDelayMs);
  const lockTtlMs = cfg.ipLockTtlSecs * 1000;
  const emit = createEvents({ metrics, logger, now: () => clock.now() });
  const policy = { baseDelayMs: cfg.retryBaseDelaySecs * 1000, maxDelayMs: cfg.retryMaxDelaySecs * 1000 };
  const guard = createOrderingGuard(opts.connection, opts.keyPrefix, opts.replicaAck);
  const instance = randomUUID();
  const releaseLock = lockReleaser(guard, emit);
  const turnDeps: TurnDeps = {
    guard,
    schedulerClock,
    lockTtlMs,
    missingPredecessorWaitMs: opts.missingPredecessorWaitMs ?? MISSING_PREDECESSOR_WAIT_MS,
    jobKey: (id) => worker.toKey(id),
  };
  const settleDeps: SettleDeps = {
    metrics,
    logger,
    clock,
    maxAgeMs: cfg.maxEventAgeSecs * 1000,
    maxEventAgeSecs: cfg.maxEventAgeSecs,
    ...(opts.onOutcome ? { onOutcome: opts.onOutcome } : {}),
  };
  const handleJob = jobHandler({
    pusher: opts.pusher,
    guard,
    metrics,
    logger,
    releaseLock,
    instance,
    comeBackAt: () => schedulerClock.now() + retryWaitMs(),
    turn: turnDeps,
    settle: settleDeps,
  });

  const handoverQueue = createPushQueue(opts.connection, opts.keyPrefix, emit);
  const batchDeps: BatchDeps = {
    pusher: opts.pusher,
    guard,
    turn: turnDeps,
    settle: settleDeps,
    queue: handoverQueue,
    cfg,
    instance,
    waitDelayMs: retryWaitMs,
    turnRetries: 10,
    turnRetryDelayMs: Math.max(1, Math.round(lockRetryDelayMs / 10)),
    retryDelayMs: (retryAfterMs) => retryDelayMs(1, policy, random, retryAfterMs),
    releaseLock,
  };
  const dispatch = (job: Job<PushJobData>, token?: string): Promise<PushJobResult | BatchJobResult> =>
    job.name === BATCH_JOB ? handleBatch(batchDeps, job as Job<BatchJobData>) : handleJob(job as Job<EventJobData>, token);

  const worker = bullWorker(opts, dispatch, (attemptsMade, err) =>
    retryDelayMs(attemptsMade, policy, random, (err as PushRetryError | undefined)?.retryAfterMs),
  );
  watchWorker(worker, emit);

  return {
    worker,
    waitUntilReady: async () => {
      await worker.waitUntilReady();
    },
    close: async () => {
      await worker.close();
      await handoverQueue.close();
    },
    pause: () => worker.pause(),
    resume: () => worker.resume(),
  };
}
