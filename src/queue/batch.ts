// A batch job: the first push attempt of many events in one BullMQ job, so BullMQ's per-job
// work (add, fetch, lock, complete) is paid once per batch instead of once per event. Each event
// goes through the same ordering guard and the same outcome rules as a one-event job. Whatever a
// batch cannot finish — an event whose IP is busy or whose predecessor is still queued, a retry,
// a refusal — is handed over to a one-event job `<ipKey>-<seq>`, the proven path, *before* the IP's
// lock is released, so a later event of that IP sees it queued and waits for it.
//
// Events of one IP are taken in order, one at a time; once one is handed over, the ones after it
// are too (they must wait for it anyway). A batch that is re-run (its worker crashed) finds its
// delivered events superseded by the guard and pushes the others again: at least once.
import type { Job } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import type { QueueConfig } from '../config/schema.js';
import type { IdentityPusher } from '../types.js';
import {
  jobLine,
  pushOnce,
  settleOutcome,
  settleSuperseded,
  takeTurn,
  type JobLine,
  type SettleDeps,
  type TurnDeps,
} from './attempt.js';
import { pushJobOptions, PushRetryError, type BatchJobData, type EventJobData, type PushQueue } from './jobs.js';
import type { OrderingGuard } from './ordering.js';

export interface BatchDeps {
  pusher: IdentityPusher;
  guard: OrderingGuard;
  turn: TurnDeps;
  settle: SettleDeps;
  queue: PushQueue;
  cfg: Pick<QueueConfig, 'keepCompletedJobs'>;
  /** Names this process in lock tokens. */
  instance: string;
  /** Delay of a handed-over event that waits for its IP's lock or predecessor. */
  waitDelayMs: () => number;
  /** How often, and how far apart, a waiting event asks for its turn again before it is handed over. */
  turnRetries: number;
  turnRetryDelayMs: number;
  /** Delay before the second attempt of an event whose first attempt is to be retried. */
  retryDelayMs: (retryAfterMs: number | undefined) => number;
  releaseLock: (key: string, token: string, line: JobLine) => Promise<void>;
}

export interface BatchJobResult {
  readonly result: 'batch';
  readonly delivered: number;
  readonly superseded: number;
  readonly handedOver: number;
}

type Item = BatchJobData['events'][number];
type Handover = Parameters<PushQueue['addBulk']>[0][number];

/** What one event's attempt came to; `lock` is still held when the event is handed over after a push. */
type Result =
  | { readonly type: 'delivered' | 'superseded' }
  | { readonly type: 'handover'; readonly job: Handover; readonly lock?: { key: string; token: string; line: JobLine } };

function handover(cfg: Pick<QueueConfig, 'keepCompletedJobs'>, item: Item, delayMs: number, refused?: string): Handover {
  const data: EventJobData = refused === undefined ? item.event : { ...item.event, refused };
  return {
    name: item.event.kind,
    data,
    opts: { ...pushJobOptions(cfg, item.ipKey, item.event.seq), delay: Math.max(0, delayMs) },
  };
}

/**
 * The event's turn, asked again a few times while its IP is busy or its predecessor is still
 * queued: that is often the batch just before this one, finishing within milliseconds, and a
 * hand-over would wait a full `waitDelayMs` instead.
 */
async function turnWithin(deps: BatchDeps, ev: Item['event'], key: string, createdAt: number, token: string) {
  let turn = await takeTurn(deps.turn, ev, key, createdAt, token);
  for (let i = 0; i < deps.turnRetries && (turn.state === 'locked' || turn.state === 'predecessor-pending'); i++) {
    await new Promise((r) => setTimeout(r, deps.turnRetryDelayMs));
    turn = await takeTurn(deps.turn, ev, key, createdAt, token);
  }
  return turn;
}

/** The first attempt of one event of the batch. */
async function attemptOne(deps: BatchDeps, job: Job<BatchJobData>, item: Item): Promise<Result> {
  const { ipKey: key, event: ev } = item;
  const line = jobLine(ev, job.id, 1);
  const token = `${deps.instance}:${job.id ?? ''}:${key}-${ev.seq}:${job.attemptsStarted}`;
  const turn = await turnWithin(deps, ev, key, job.timestamp, token);
  if (turn.state === 'superseded') {
    settleSuperseded(deps.settle, ev, line, turn.deliveredSeq);
    return { type: 'superseded' };
  }
  if (turn.state !== 'acquired') return { type: 'handover', job: handover(deps.cfg, item, deps.waitDelayMs()) };
  if (turn.again) deps.settle.metrics.pushReattempts.inc();
  const outcome = await pushOnce(deps.pusher, ev);
  const lock = { key, token, line };
  if (outcome.result === 'delivered') await deps.guard.delivered(key, ev.seq, token);
  try {
    settleOutcome(deps.settle, ev, outcome, line);
    return { type: 'delivered' };
  } catch (e) {
    if (e instanceof PushRetryError)
      return { type: 'handover', job: handover(deps.cfg, item, deps.retryDelayMs(e.retryAfterMs)), lock };
    const reason = e instanceof UnrecoverableError ? e.message : String(e);
    return { type: 'handover', job: handover(deps.cfg, item, 0, reason), lock };
  }
}

/** Attempts of one IP's events, in order; from the first one handed over, the rest follow it. */
async function attemptChain(deps: BatchDeps, job: Job<BatchJobData>, items: readonly Item[], results: Result[]): Promise<void> {
  for (const [i, item] of items.entries()) {
    const r = await attemptOne(deps, job, item);
    results.push(r);
    if (r.type === 'handover') {
      for (const later of items.slice(i + 1))
        results.push({ type: 'handover', job: handover(deps.cfg, later, deps.waitDelayMs()) });
      return;
    }
  }
}

export async function handleBatch(deps: BatchDeps, job: Job<BatchJobData>): Promise<BatchJobResult> {
  const byIp = new Map<string, Item[]>();
  for (const item of job.data.events) {
    const chain = byIp.get(item.ipKey);
    if (chain) chain.push(item);
    else byIp.set(item.ipKey, [item]);
  }
  const results: Result[] = [];
  await Promise.all([...byIp.values()].map((items) => attemptChain(deps, job, items, results)));
  const handed = results.filter((r): r is Extract<Result, { type: 'handover' }> => r.type === 'handover');
  // Locks are released only once the hand-over is queued: until then they keep each IP's next
  // event waiting. If queuing fails the batch job is retried and the locks run out by their TTL.
  if (handed.length > 0) await deps.queue.addBulk(handed.map((h) => h.job));
  await Promise.all(handed.flatMap((h) => (h.lock ? [deps.releaseLock(h.lock.key, h.lock.token, h.lock.line)] : [])));
  const count = (type: Result['type']) => results.filter((r) => r.type === type).length;
  return { result: 'batch', delivered: count('delivered'), superseded: count('superseded'), handedOver: handed.length };
}
