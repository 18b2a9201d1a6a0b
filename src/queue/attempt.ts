// One push attempt of one event, shared by one-event jobs and batch jobs: whose turn it is (the
// ordering guard), the push itself, and what its outcome means for the job.
import { UnrecoverableError } from 'bullmq';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { jobId } from '../redis/keys.js';
import type { Clock, IdentityEvent, IdentityPusher, PushOutcome } from '../types.js';
import { PushRetryError } from './jobs.js';
import type { OrderingGuard } from './ordering.js';

export type PushJobResult =
  | { readonly result: 'delivered'; readonly status: number; readonly server: string }
  | { readonly result: 'superseded'; readonly deliveredSeq: number };

/** Fields every log line of a job carries. */
export type JobLine = Readonly<Record<string, unknown>>;

/**
 * The fields of a push's log lines: the identity event whole (user, domain, IP, kind, seq,
 * firewall, a disconnect's reason), so that the outcome line is the event's audit record — the
 * session decision that emitted it is logged at debug only.
 */
export function jobLine(ev: IdentityEvent, jobId: string | undefined, attempt: number): JobLine {
  const { correlationId, ip, user, domain, seq, kind, firewall, reason } = ev;
  return reason === undefined
    ? { correlationId, jobId, ip, user, domain, seq, kind, firewall, attempt }
    : { correlationId, jobId, ip, user, domain, seq, kind, firewall, attempt, reason };
}

/**
 * A job's line with an outcome's fields after it. Not `{ ...line, outcome, … }`: on Node 20 a
 * spread followed by more properties takes V8's slow path, about 3 µs here against 0.2 µs
 * (`npm run bench:spread`), and every push outcome builds one.
 */
export const outcomeLine = (line: JobLine, fields: Readonly<Record<string, unknown>>): JobLine => Object.assign({}, line, fields);

export interface TurnDeps {
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
export function takeTurn(deps: TurnDeps, ev: IdentityEvent, key: string, createdAt: number, lockToken: string) {
  return deps.guard.acquire(
    {
      ipKey: key,
      seq: ev.seq,
      token: lockToken,
      ttlMs: deps.lockTtlMs,
      previousJobKey: deps.jobKey(jobId(key, ev.seq - 1)),
      createdAt,
    },
    deps.schedulerClock.now(),
    deps.missingPredecessorWaitMs,
  );
}

/** One event's push outcome as observers see it (the console's per-IP history). */
export interface PushOutcomeNote {
  readonly outcome: 'delivered' | 'superseded' | 'permanent' | 'retry';
  readonly detail?: string;
  readonly jobId: string;
  readonly attempt: number;
}

export type PushOutcomeListener = (ev: IdentityEvent, note: PushOutcomeNote) => void;

export interface SettleDeps {
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  maxAgeMs: number;
  maxEventAgeSecs: number;
  /** Told of every event's outcome, single or batch job (must not throw). */
  onOutcome?: PushOutcomeListener;
}

/** Tells the listener, if any; a listener's bug never changes a push's outcome. */
export function noteOutcome(
  deps: SettleDeps,
  ev: IdentityEvent,
  line: JobLine,
  outcome: PushOutcomeNote['outcome'],
  detail?: string,
) {
  if (!deps.onOutcome) return;
  try {
    deps.onOutcome(ev, {
      outcome,
      ...(detail ? { detail } : {}),
      jobId: String(line.jobId ?? ''),
      attempt: Number(line.attempt ?? 0),
    });
  } catch {
    // observers are best effort
  }
}

/** The guard found a newer event of the IP already delivered or attempted: counted, logged, noted. */
export function settleSuperseded(deps: SettleDeps, ev: IdentityEvent, line: JobLine, deliveredSeq: number): void {
  deps.metrics.pushes.inc({ outcome: 'superseded' });
  deps.logger.info(outcomeLine(line, { outcome: 'superseded', deliveredSeq }), 'push superseded by a newer event');
  noteOutcome(deps, ev, line, 'superseded', `seq ${deliveredSeq} already delivered`);
}

/** What a push outcome means for the job: a result, or a throw that BullMQ turns into a retry or a failure. */
export function settleOutcome(deps: SettleDeps, ev: IdentityEvent, outcome: PushOutcome, line: JobLine): PushJobResult {
  const { metrics, logger } = deps;
  switch (outcome.result) {
    case 'delivered': {
      metrics.pushes.inc({ outcome: 'delivered' });
      metrics.eventLatency.observe(Math.max(0, deps.clock.now() - ev.receivedAt) / 1000);
      logger.info(outcomeLine(line, { outcome: 'delivered', status: outcome.status, server: outcome.server }), 'push delivered');
      noteOutcome(deps, ev, line, 'delivered', `HTTP ${outcome.status} from ${outcome.server}`);
      return { result: 'delivered', status: outcome.status, server: outcome.server };
    }
    case 'permanent': {
      metrics.pushes.inc({ outcome: 'permanent' });
      const { reason, status, server } = outcome;
      logger.error(outcomeLine(line, { outcome: 'permanent', reason, status, server }), 'push rejected permanently');
      noteOutcome(deps, ev, line, 'permanent', reason);
      throw new UnrecoverableError(`permanent: ${outcome.reason}`);
    }
    case 'retry': {
      const ageMs = deps.clock.now() - ev.receivedAt;
      const { reason, server } = outcome;
      if (ageMs > deps.maxAgeMs) {
        metrics.pushes.inc({ outcome: 'permanent' });
        const ageSecs = Math.round(ageMs / 1000);
        logger.error(
          outcomeLine(line, { outcome: 'permanent', reason, ageSecs, server }),
          'push gave up: event older than maxEventAgeSecs',
        );
        noteOutcome(deps, ev, line, 'permanent', `expired; last error: ${reason}`);
        throw new UnrecoverableError(`expired: event older than ${deps.maxEventAgeSecs}s; last error: ${reason}`);
      }
      metrics.pushes.inc({ outcome: 'retry' });
      logger.warn(
        outcomeLine(line, { outcome: 'retry', reason, retryAfterMs: outcome.retryAfterMs, server }),
        'push will be retried',
      );
      noteOutcome(deps, ev, line, 'retry', reason);
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
export async function pushOnce(pusher: IdentityPusher, ev: IdentityEvent): Promise<PushOutcome> {
  try {
    return await pusher.push(ev);
  } catch (e) {
    return { result: 'retry', reason: `pusher threw: ${(e as Error).message}`, server: '' };
  }
}
