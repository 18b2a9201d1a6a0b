// Push workers: take identity events off the BullMQ queue and hand them to the JIMS pusher,
// with one push per IP in flight across all replicas, latest-wins ordering, and retries that
// BullMQ schedules with our backoff until the event is too old.
import { randomUUID } from 'node:crypto';
import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import type { RedisClient as Redis } from '../redis/connection.js';
import type { QueueConfig } from '../config/schema.js';
import { rateLimiter, silentLogger, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { jobId, keyspace } from '../redis/keys.js';
import type { Clock, IdentityEvent, IdentityPusher, PushOutcome } from '../types.js';
import { retryDelayMs } from './backoff.js';
import { ipKeyOfJobId, PushRetryError } from './jobs.js';
import { createOrderingGuard } from './ordering.js';
import type { ReplicaAck } from '../redis/replication.js';

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
  /** Event age and latency; BullMQ's own scheduling uses real time. */
  clock: Clock;
  /** Jitter source (tests seed it). */
  random?: () => number;
  /** How long a job waits when its IP's lock is taken (plus up to as much again of jitter). */
  lockRetryDelayMs?: number;
  /** How long a job waits for a predecessor job that does not exist yet (default MISSING_PREDECESSOR_WAIT_MS). */
  missingPredecessorWaitMs?: number;
  /** Start fetching jobs at once (default true). */
  autorun?: boolean;
  /** Replicas that must have the attempt mark before a push goes out (see redis/replication.ts). */
  replicaAck?: ReplicaAck;
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

export function createPushWorkers(opts: PushWorkersOptions): PushWorkers {
  const { pusher, metrics, clock, queue: cfg } = opts;
  const logger = (opts.logger ?? silentLogger).child({ component: 'push' });
  const random = opts.random ?? Math.random;
  const ks = keyspace(opts.keyPrefix);
  const guard = createOrderingGuard(opts.connection, opts.keyPrefix, opts.replicaAck);
  const lockRetryDelayMs = opts.lockRetryDelayMs ?? 100;
  const missingPredecessorWaitMs = opts.missingPredecessorWaitMs ?? MISSING_PREDECESSOR_WAIT_MS;
  const lockTtlMs = cfg.ipLockTtlSecs * 1000;
  const maxAgeMs = cfg.maxEventAgeSecs * 1000;
  const instance = randomUUID();
  const errorLog = rateLimiter(6, () => clock.now());
  const policy = { baseDelayMs: cfg.retryBaseDelaySecs * 1000, maxDelayMs: cfg.retryMaxDelaySecs * 1000 };

  async function process(job: Job<IdentityEvent>, token?: string): Promise<PushJobResult> {
    const ev = job.data;
    const id = job.id ?? '';
    const key = ipKeyOfJobId(id);
    const attempt = job.attemptsMade + 1;
    const line = { correlationId: ev.correlationId, jobId: id, ip: ev.ip, seq: ev.seq, kind: ev.kind, attempt };

    // A newer event must not overtake an older one of its IP still queued (e.g. waiting out a retry):
    // it would supersede it, and "latest wins" is not enough when the older one logs off a previous
    // owner (DOWN of the new owner delivered first leaves the old owner mapped in JIMS). Seqs are
    // consecutive per IP, so the predecessor's job id is known; a failed or removed one does not block.
    if (ev.seq > 1 && (await predecessorPending(key, ev.seq, job.timestamp))) {
      await job.moveToDelayed(Date.now() + lockRetryDelayMs + Math.floor(random() * lockRetryDelayMs), token);
      throw new DelayedError();
    }

    const lockToken = `${instance}:${id}:${job.attemptsStarted}`;
    const got = await guard.acquire(key, ev.seq, lockToken, lockTtlMs);
    if (got.state === 'superseded') {
      metrics.pushes.inc({ outcome: 'superseded' });
      logger.info({ ...line, outcome: 'superseded', deliveredSeq: got.deliveredSeq }, 'push superseded by a newer event');
      return { result: 'superseded', deliveredSeq: got.deliveredSeq };
    }
    if (got.state === 'locked') {
      // Another push for this IP is in flight: come back shortly. Not a failure, not an attempt.
      await job.moveToDelayed(Date.now() + lockRetryDelayMs + Math.floor(random() * lockRetryDelayMs), token);
      throw new DelayedError();
    }

    // At-least-once made visible: JIMS may see this seq twice (it applies the same state again).
    if (got.again) metrics.pushReattempts.inc();
    let released = false;
    try {
      let outcome: PushOutcome;
      try {
        outcome = await pusher.push(ev);
      } catch (e) {
        // The pusher should classify everything; if it throws anyway, retrying is the safe choice.
        outcome = { result: 'retry', reason: `pusher threw: ${(e as Error).message}`, server: '' };
      }
      switch (outcome.result) {
        case 'delivered': {
          await guard.delivered(key, ev.seq, lockToken);
          released = true;
          metrics.pushes.inc({ outcome: 'delivered' });
          metrics.eventLatency.observe(Math.max(0, clock.now() - ev.receivedAt) / 1000);
          logger.info({ ...line, outcome: 'delivered', status: outcome.status, server: outcome.server }, 'push delivered');
          return { result: 'delivered', status: outcome.status, server: outcome.server };
        }
        case 'permanent': {
          metrics.pushes.inc({ outcome: 'permanent' });
          logger.error(
            { ...line, outcome: 'permanent', reason: outcome.reason, status: outcome.status, server: outcome.server },
            'push rejected permanently',
          );
          throw new UnrecoverableError(`permanent: ${outcome.reason}`);
        }
        case 'retry': {
          const ageMs = clock.now() - ev.receivedAt;
          if (ageMs > maxAgeMs) {
            metrics.pushes.inc({ outcome: 'permanent' });
            logger.error(
              {
                ...line,
                outcome: 'permanent',
                reason: outcome.reason,
                ageSecs: Math.round(ageMs / 1000),
                server: outcome.server,
              },
              'push gave up: event older than maxEventAgeSecs',
            );
            throw new UnrecoverableError(`expired: event older than ${cfg.maxEventAgeSecs}s; last error: ${outcome.reason}`);
          }
          metrics.pushes.inc({ outcome: 'retry' });
          logger.warn(
            { ...line, outcome: 'retry', reason: outcome.reason, retryAfterMs: outcome.retryAfterMs, server: outcome.server },
            'push will be retried',
          );
          throw new PushRetryError(outcome.reason, outcome.retryAfterMs);
        }
        default: {
          // An outcome this code does not know is treated as retryable: never drop on a surprise.
          const unknown: never = outcome;
          throw new PushRetryError(`unknown push outcome ${JSON.stringify(unknown)}`);
        }
      }
    } finally {
      if (!released) {
        await guard.release(key, lockToken).catch((e: unknown) => {
          // The lock's TTL frees the IP anyway; only the next push for it waits a little longer.
          const { allowed, suppressed } = errorLog();
          if (allowed) logger.warn({ ...line, err: (e as Error).message, suppressed }, 'could not release IP lock');
        });
      }
    }
  }

  async function predecessorPending(key: string, seq: number, createdAt: number): Promise<boolean> {
    const prev = await Job.fromId<IdentityEvent>(worker, jobId(key, seq - 1));
    if (!prev) {
      // No job: either it was handled and removed (then the guard has seen its seq), or it is not
      // relayed yet (a crashed relay's entries wait for the reclaim): wait for it — but not forever,
      // in case it can never come (an outbox entry dropped as invalid).
      if ((await guard.handledThrough(key)) >= seq - 1) return false;
      return Date.now() - createdAt < missingPredecessorWaitMs;
    }
    const state = await prev.getState();
    return (
      state === 'waiting' || state === 'delayed' || state === 'active' || state === 'prioritized' || state === 'waiting-children'
    );
  }

  const worker = new Worker<IdentityEvent>(ks.queueName, process, {
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
  worker.on('error', (err) => {
    const { allowed, suppressed } = errorLog();
    if (allowed) logger.warn({ err: err.message, suppressed }, 'push worker error');
  });
  worker.on('failed', (job, err) => {
    // Redis or programming errors inside the processor (not push outcomes) land here; BullMQ retries them.
    if (err instanceof PushRetryError || err instanceof UnrecoverableError || err instanceof DelayedError) return;
    const { allowed, suppressed } = errorLog();
    if (allowed) logger.warn({ jobId: job?.id, err: err.message, suppressed }, 'push job error; will be retried');
  });

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
