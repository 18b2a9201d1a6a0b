// Re-pushing active sessions to JIMS: the `resync` command (after JIMS lost its table) and the
// periodic refresh (`sessions.refreshIntervalSecs`, so JIMS's logoff timer never lapses). Both
// walk the session index with ZSCAN (constant memory, however many sessions) at a steady rate and
// send each IP through the session script as a `resync`/`refresh` input: a rekey with the IP's
// next seq goes into the outbox, so the normal relay, queue and ordering guard push it — per-IP
// order holds, and a DOWN applied meanwhile gets a later seq than the resync's rekey, or finds the
// session gone (then nothing is sent for it).
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/connection.js';
import { keyspace } from '../redis/keys.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock } from '../types.js';
import type { SessionRules } from './model.js';
import { countDecision } from './report.js';
import { runSessionCall } from './script.js';

export type Sleep = (ms: number) => Promise<void>;
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ResyncPassOptions {
  readonly redis: RedisClient;
  readonly keyPrefix: string;
  readonly cfg: SessionRules;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly kind: 'resync' | 'refresh';
  /** Sessions (= identity events) per second. */
  readonly ratePerSec: number;
  /** Most sessions per script call (default 100; fewer at low rates, a tenth of a second's worth). */
  readonly batchSize?: number;
  /** Waits on `clock`'s time scale (tests pass one that advances a manual clock). */
  readonly sleep?: Sleep;
  /** Called after each batch with the counts so far. */
  readonly onProgress?: (counts: ResyncCounts) => void;
  /** Checked before each batch (after its wait): true ends the pass early. */
  readonly stopped?: () => boolean;
  /** Where the shard's active-session count goes (default: the gauge). */
  readonly activeSessions?: (active: number) => void;
}

export interface ResyncCounts {
  /** Index entries read (ZSCAN may return one twice; it is then re-pushed twice, harmlessly). */
  scanned: number;
  /** Sessions re-pushed. */
  pushed: number;
  /** Sessions that ended between the scan and the script call. */
  skipped: number;
  errors: number;
}

/** Waits until `done` sessions are due at `ratePerSec` since `startedAt`. */
async function pace(o: ResyncPassOptions, startedAt: number, done: number): Promise<void> {
  const wait = startedAt + (done / o.ratePerSec) * 1000 - o.clock.now();
  if (wait > 0) await (o.sleep ?? realSleep)(wait);
}

async function resyncBatch(o: ResyncPassOptions, keys: readonly string[], counts: ResyncCounts, correlationId: string) {
  const inputs = keys.map((key) => ({ key, input: { kind: o.kind, correlationId }, n: -1 }));
  // n -1: never taken for a re-send, so the source name only labels the call.
  const replies = await runSessionCall(o.redis, o.keyPrefix, { source: o.kind, inputs }, o.cfg, o.clock.now());
  for (const r of replies) {
    if (r.type !== 'applied') counts.errors++;
    else {
      countDecision(o.metrics, r.result, o.activeSessions);
      if (r.result.decision === 'resync_skipped') counts.skipped++;
      else {
        counts.pushed++;
        if (o.kind === 'refresh') o.metrics.refreshes.inc();
      }
    }
  }
}

/** One walk over every active session at `ratePerSec`; resolves with the counts. Rejects if Redis fails. */
export async function resyncPass(o: ResyncPassOptions): Promise<ResyncCounts> {
  const index = keyspace(o.keyPrefix).sessionIndex;
  const chunk = Math.max(1, Math.min(o.batchSize ?? 100, Math.ceil(o.ratePerSec / 10)));
  const correlationId = `${o.kind}-${randomUUID()}`;
  const counts: ResyncCounts = { scanned: 0, pushed: 0, skipped: 0, errors: 0 };
  const startedAt = o.clock.now();
  let cursor = '0';
  do {
    const [next, flat] = await o.redis.zscan(index, cursor, 'COUNT', chunk);
    cursor = next;
    const keys = flat.filter((_, i) => i % 2 === 0);
    for (let i = 0; i < keys.length; i += chunk) {
      await pace(o, startedAt, counts.scanned);
      if (o.stopped?.()) return counts;
      const part = keys.slice(i, i + chunk);
      counts.scanned += part.length;
      await resyncBatch(o, part, counts, correlationId);
      o.onProgress?.(counts);
    }
  } while (cursor !== '0');
  return counts;
}

export interface RefresherOptions {
  readonly redis: RedisClient;
  readonly keyPrefix: string;
  readonly cfg: SessionRules & { readonly refreshIntervalSecs: number };
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Told of a failed pass (the next one is tried an interval later). */
  readonly onError: (err: unknown) => void;
  readonly sleep?: Sleep;
  readonly activeSessions?: (active: number) => void;
}

export interface Refresher {
  /** One pass over the active sessions spread over `refreshIntervalSecs`; resolves with its counts. */
  refreshOnce(): Promise<ResyncCounts>;
  /** Passes back to back, each starting an interval after the previous one started. */
  start(): void;
  stop(): Promise<void>;
}

/**
 * The periodic refresh: each pass re-pushes every active session at `active / interval` sessions
 * per second, so the pushes are spread evenly over the interval (no bursts), and a session is
 * re-pushed about once per interval, at about the same point of it (ZSCAN's order).
 */
export function createRefresher(o: RefresherOptions): Refresher {
  const intervalMs = o.cfg.refreshIntervalSecs * 1000;
  let running = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  const sleep: Sleep =
    o.sleep ??
    ((ms) =>
      new Promise((resolve) => {
        const t = setTimeout(resolve, ms);
        wake = () => (clearTimeout(t), resolve());
      }));

  const refreshOnce = async (): Promise<ResyncCounts> => {
    const active = await o.redis.zcard(keyspace(o.keyPrefix).sessionIndex);
    if (active === 0) return { scanned: 0, pushed: 0, skipped: 0, errors: 0 };
    const ratePerSec = active / o.cfg.refreshIntervalSecs;
    return resyncPass({ ...o, kind: 'refresh', ratePerSec, sleep, stopped: () => loop !== undefined && !running });
  };

  const run = async () => {
    while (running) {
      const startedAt = o.clock.now();
      await refreshOnce().catch(o.onError);
      const rest = startedAt + intervalMs - o.clock.now();
      if (running && rest > 0) await sleep(rest);
    }
  };

  return {
    refreshOnce,
    start() {
      if (running || intervalMs === 0) return;
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
      loop = undefined;
    },
  };
}
