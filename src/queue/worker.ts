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
import type { Redis } from 'ioredis';
import type { QueueConfig } from '../config/schema.js';
import { rateLimiter, silentLogger, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { jobId, keyspace } from '../redis/keys.js';
import { systemClock, type Clock, type IdentityEvent, type IdentityPusher, type PushOutcome } from '../types.js';
import { retryDelayMs } from './backoff.js';
import { ipKeyOfJobId, PushRetryError } from './jobs.js';
import { createOrderingGuard, type OrderingGuard } from './ordering.js';

/**
 * How long a job waits for its IP's previous seq when that job does not exist yet. The relay
 * reclaims a dead consumer's entries after 15 s, so this outlasts that with margin.
 */
export const MISSING_PREDECESSOR_WAIT_MS = 60_000;

export interface PushWorkersOptions {
  /** A worker-role connection (maxRetriesPerRequest: null); BullMQ duplicates it for blocking reads. */
  connection: Redis;
  queue: Pick<QueueConfig, 'concurrency' | 'maxEventAgeSecs' | 'retryBaseDelaySecs' | 'retryMaxDelaySecs' | 'ipLockTtlSecs'>;
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
}

export interface PushWorkers {
  readonly worker: Worker<IdentityEvent>;
  waitUntilReady(): Promise<void>;
  /** Stops fetching, lets in-flight pushes finish, then closes. */
  close(): Promise<void>;
  pause(): Promise<void>;
  resume(): void;
}

export type PushJobResult =
  | { readonly result: 'delivered'; readonly status: number; readonly server: string }
  | { readonly result: 'superseded'; readonly deliveredSeq: number };

/** Fields every log line of a job carries. */
type JobLine = Readonly<Record<string, unknown>>;

interface TurnDeps {
  guard: OrderingGuard;
  schedulerClock: Clock;
  lockTtlMs: number;
  missingPredecessorWaitMs: number;
  /** Redis key of a job's hash, from its id (BullMQ's naming). */
  jobKey: (id: string) => string;
}

/**
 * Whether this job may push now. A newer event must not overtake an older one of its IP still
 * queued (e.g. waiting out a retry): it would supersede it, and "latest wins" is not enough when
 * the older one logs off a previous owner (DOWN of the new owner delivered first leaves the old
 * owner mapped in JIMS). Seqs are consecutive per IP, so the predecessor's job id is known; a failed
 * or removed one does not block, and one not relayed yet is waited for, but not forever (an outbox
 * entry dropped as invalid never comes). Then one push in flight per IP: the lock.
 */
export function takeTurn(deps: TurnDeps, job: Job<IdentityEvent>, key: string, lockToken: string) {
  const ev = job.data;
  return deps.guard.acquire(
    {
      ipKey: key,
      seq: ev.seq,
      token: lockToken,
      ttlMs: deps.lockTtlMs,
      previousJobKey: deps.jobKey(jobId(key, ev.seq - 1)),
      createdAt: job.timestamp,
    },
    deps.schedulerClock.now(),
    deps.missingPredecessorWaitMs,
  );
}

interface SettleDeps {
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  maxAgeMs: number;
  maxEventAgeSecs: number;
}

/** What a push outcome means for the job: a result, or a throw that BullMQ turns into a retry or a failure. */
export function settleOutcome(deps: SettleDeps, ev: IdentityEvent, outcome: PushOutcome, line: JobLine): PushJobResult {
  const { metrics, logger } = deps;
  switch (outcome.result) {
    case 'delivered': {
      metrics.pushes.inc({ outcome: 'delivered' });
      metrics.eventLatency.observe(Math.max(0, deps.clock.now() - ev.receivedAt) / 1000);
      logger.info({ ...line, outcome: 'delivered', status: outcome.status, server: outcome.server }, 'push delivered');
      return { result: 'delivered', status: outcome.status, server: outcome.server };
    }
    case 'permanent': {
      metrics.pushes.inc({ outcome: 'permanent' });
      const { reason, status, server } = outcome;
      logger.error({ ...line, outcome: 'permanent', reason, status, server }, 'push rejected permanently');
      throw new UnrecoverableError(`permanent: ${outcome.reason}`);
    }
    case 'retry': {
      const ageMs = deps.clock.now() - ev.receivedAt;
      const { reason, server } = outcome;
      if (ageMs > deps.maxAgeMs) {
        metrics.pushes.inc({ outcome: 'permanent' });
        const ageSecs = Math.round(ageMs / 1000);
        logger.error(
          { ...line, outcome: 'permanent', reason, ageSecs, server },
          'push gave up: event older than maxEventAgeSecs',
        );
        throw new UnrecoverableError(`expired: event older than ${deps.maxEventAgeSecs}s; last error: ${reason}`);
      }
      metrics.pushes.inc({ outcome: 'retry' });
      logger.warn({ ...line, outcome: 'retry', reason, retryAfterMs: outcome.retryAfterMs, server }, 'push will be retried');
      throw new PushRetryError(reason, outcome.retryAfterMs);
    }
    default: {
      // An outcome this code does not know is treated as retryable: never drop on a surprise.
      const unknown: never = outcome;
      throw new PushRetryError(`unknown push outcome ${JSON.stringify(unknown)}`);
    }
  }
}

/** The pusher's outcome; a pusher that throws anyway gets a retry, the safe choice. */
async function pushOnce(pusher: IdentityPusher, ev: IdentityEvent): Promise<PushOutcome> {
  try {
    return await pusher.push(ev);
  } catch (e) {
    return { result: 'retry', reason: `pusher threw: ${(e as Error).message}`, server: '' };
  }
}

interface HandlerDeps {
  pusher: IdentityPusher;
  guard: OrderingGuard;
  metrics: Metrics;
  logger: Logger;
  errorLog: ReturnType<typeof rateLimiter>;
  turn: TurnDeps;
  settle: SettleDeps;
  /** Names this process in lock tokens. */
  instance: string;
  /** When a job waiting for its turn comes back (scheduler time). */
  comeBackAt: () => number;
}

/** The processor of one job: its turn, the push while holding the IP's lock, and what the outcome means. */
function jobHandler(deps: HandlerDeps) {
  const { guard, metrics, logger, errorLog } = deps;

  const releaseLock = (key: string, lockToken: string, line: JobLine) =>
    guard.release(key, lockToken).catch((e: unknown) => {
      // The lock's TTL frees the IP anyway; only the next push for it waits a little longer.
      const { allowed, suppressed } = errorLog();
      if (allowed) logger.warn({ ...line, err: (e as Error).message, suppressed }, 'could not release IP lock');
    });

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

  return async function handleJob(job: Job<IdentityEvent>, token?: string): Promise<PushJobResult> {
    const ev = job.data;
    const id = job.id ?? '';
    const key = ipKeyOfJobId(id);
    const line = {
      correlationId: ev.correlationId,
      jobId: id,
      ip: ev.ip,
      seq: ev.seq,
      kind: ev.kind,
      attempt: job.attemptsMade + 1,
    };
    const lockToken = `${deps.instance}:${id}:${job.attemptsStarted}`;
    const turn = await takeTurn(deps.turn, job, key, lockToken);
    if (turn.state === 'superseded') {
      metrics.pushes.inc({ outcome: 'superseded' });
      logger.info({ ...line, outcome: 'superseded', deliveredSeq: turn.deliveredSeq }, 'push superseded by a newer event');
      return { result: 'superseded', deliveredSeq: turn.deliveredSeq };
    }
    if (turn.state !== 'acquired') {
      // Another push for this IP is in flight, or its previous event is still queued: come back
      // shortly. Not a failure, not an attempt.
      await job.moveToDelayed(deps.comeBackAt(), token);
      throw new DelayedError();
    }
    return pushWhileHolding(key, ev, lockToken, line);
  };
}

/** Logs worker errors, and processor errors that are not push outcomes (BullMQ retries those). */
function watchWorker(worker: Worker<IdentityEvent>, logger: Logger, errorLog: ReturnType<typeof rateLimiter>): void {
  worker.on('error', (err) => {
    const { allowed, suppressed } = errorLog();
    if (allowed) logger.warn({ err: err.message, suppressed }, 'push worker error');
  });
  worker.on('failed', (job, err) => {
    if (err instanceof PushRetryError || err instanceof UnrecoverableError || err instanceof DelayedError) return;
    const { allowed, suppressed } = errorLog();
    if (allowed) logger.warn({ jobId: job?.id, err: err.message, suppressed }, 'push job error; will be retried');
  });
}

export function createPushWorkers(opts: PushWorkersOptions): PushWorkers {
  const { metrics, clock, queue: cfg } = opts;
  const logger = (opts.logger ?? silentLogger).child({ component: 'push' });
  const random = opts.random ?? Math.random;
  const schedulerClock = opts.schedulerClock ?? systemClock;
  const ks = keyspace(opts.keyPrefix);
  const lockRetryDelayMs = opts.lockRetryDelayMs ?? 100;
  const lockTtlMs = cfg.ipLockTtlSecs * 1000;
  const errorLog = rateLimiter(6, () => clock.now());
  const policy = { baseDelayMs: cfg.retryBaseDelaySecs * 1000, maxDelayMs: cfg.retryMaxDelaySecs * 1000 };
  const guard = createOrderingGuard(opts.connection, opts.keyPrefix);
  const handleJob = jobHandler({
    pusher: opts.pusher,
    guard,
    metrics,
    logger,
    errorLog,
    instance: randomUUID(),
    comeBackAt: () => schedulerClock.now() + lockRetryDelayMs + Math.floor(random() * lockRetryDelayMs),
    turn: {
      guard,
      schedulerClock,
      lockTtlMs,
      missingPredecessorWaitMs: opts.missingPredecessorWaitMs ?? MISSING_PREDECESSOR_WAIT_MS,
      jobKey: (id) => worker.toKey(id),
    },
    settle: { metrics, logger, clock, maxAgeMs: cfg.maxEventAgeSecs * 1000, maxEventAgeSecs: cfg.maxEventAgeSecs },
  });

  const worker = new Worker<IdentityEvent>(ks.queueName, handleJob, {
    connection: opts.connection,
    prefix: ks.tag,
    concurrency: cfg.concurrency,
    autorun: opts.autorun ?? true,
    // A crashed worker's job stalls; it must go back to wait, never to failed (it was never tried).
    maxStalledCount: 1000,
    // A job's lock lives as long as its IP's push lock (BullMQ renews it while the process lives), and
    // stalls are looked for as often: after a crash, its in-flight pushes resume about when the IP
    // lock frees, not after BullMQ's fixed 30 s + 30 s. Defaults (ipLockTtlSecs 30) match BullMQ's.
    lockDuration: lockTtlMs,
    stalledInterval: lockTtlMs,
    settings: {
      backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
        retryDelayMs(attemptsMade, policy, random, (err as PushRetryError | undefined)?.retryAfterMs),
    },
  });
  watchWorker(worker, logger, errorLog);

  return {
    worker,
    waitUntilReady: async () => {
      await worker.waitUntilReady();
    },
    close: () => worker.close(),
    pause: () => worker.pause(),
    resume: () => worker.resume(),
  };
}
