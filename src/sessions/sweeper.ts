// Expires sessions that saw no UP or rekey for `sessionIdleSecs` (JIMS's own logoff time), so
// JIMS hears a disconnect even when the DOWN line was lost. Safe with several replicas: the
// session script re-checks idleness atomically, so a late UP always wins over a sweep. Each pass
// then prunes the bookkeeping of IPs that ended long enough ago (prune.ts). With
// `refreshIntervalSecs` set, the sweeper role also runs the periodic refresh (resync.ts).
import { randomUUID } from 'node:crypto';
import { createEvents } from '../events.js';
import { keyspace } from '../redis/keys.js';
import type { SessionAdapterOptions } from './options.js';
import { pruneEnded, type PruneCounts } from './prune.js';
import { reportDecision } from './report.js';
import { createRefresher, type Refresher, type Sleep } from './resync.js';
import { defineSessionScript, runSessionCall } from './script.js';

export interface SweeperOptions extends SessionAdapterOptions {
  /** Idle candidates examined per round trip. */
  batchSize?: number;
  /** An ended IP whose last push is still undelivered is kept at most this long (ms; queue.maxEventAgeSecs). Default sessionIdleSecs. */
  pendingLimitMs?: number;
  /** The refresh's waits (tests pass one that advances a manual clock). */
  sleep?: Sleep;
}

export interface Sweeper {
  /** One expiry pass; resolves with the number of sessions expired. Rejects only if Redis fails. */
  sweepOnce(): Promise<number>;
  /** One pruning pass over ended IPs (also run after each timed sweep). */
  pruneOnce(): Promise<PruneCounts>;
  /** The periodic refresh (absent when `refreshIntervalSecs` is 0). */
  readonly refresher: Refresher | undefined;
  /** Sweeps every `sweepIntervalSecs` (never two passes at once), and starts the refresh; failures are logged, not thrown. */
  start(): void;
  stop(): Promise<void>;
}

/** Expires the idle sessions, a batch per call; returns how many expired. */
async function expirePass(opts: SweeperOptions, batchSize: number): Promise<number> {
  const { redis, cfg, keyPrefix, metrics, logger, clock } = opts;
  const ks = keyspace(keyPrefix);
  const now = clock.now();
  const cutoff = now - cfg.sessionIdleSecs * 1000;
  const correlationId = `sweep-${randomUUID()}`;
  let expired = 0;
  for (;;) {
    // Exclusive bound: expire when lastUpAt < now − sessionIdleSecs, as the script checks.
    const keys = await redis.zrangebyscore(ks.sessionIndex, '-inf', `(${cutoff}`, 'LIMIT', 0, batchSize);
    if (keys.length === 0) break;
    // One call expires the whole batch; untracked inputs (n -1) are never skipped as re-sends.
    const inputs = keys.map((key) => ({ key, input: { kind: 'expire' as const, correlationId }, n: -1 }));
    const replies = await runSessionCall(redis, keyPrefix, { source: 'sweeper', inputs }, cfg, now);
    let expiredNow = 0;
    for (const [i, reply] of replies.entries()) {
      if (reply.type === 'error') throw reply.error;
      if (reply.type !== 'applied') continue;
      const r = reply.result;
      reportDecision(metrics, logger, r, r.events[0] ?? { ip: keys[i], correlationId }, opts.activeSessions);
      if (r.decision === 'expired') expiredNow++;
    }
    expired += expiredNow;
    // Skipped entries were refreshed (new score) or removed, so the next read moves on; a batch
    // with no expiry at all stops the pass rather than risk spinning (the next tick resumes).
    if (keys.length < batchSize || expiredNow === 0) break;
  }
  return expired;
}

export function createSweeper(opts: SweeperOptions): Sweeper {
  const { redis, cfg, keyPrefix, metrics, logger, clock } = opts;
  const batchSize = opts.batchSize ?? 500;
  const emit = createEvents({ metrics, logger, now: () => clock.now() });
  defineSessionScript(redis);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  const pruneOpts = {
    reorderWindowMs: cfg.reorderWindowMs,
    pendingLimitMs: opts.pendingLimitMs ?? cfg.sessionIdleSecs * 1000,
    batchSize,
  };
  const pruneOnce = async (): Promise<PruneCounts> => {
    const counts = await pruneEnded(redis, keyPrefix, pruneOpts, clock.now());
    metrics.pruned.inc(counts.pruned);
    if (counts.pruned > 0) logger.debug(counts, 'pruned the bookkeeping of ended IPs');
    return counts;
  };
  const refresher =
    cfg.refreshIntervalSecs > 0
      ? createRefresher({
          redis,
          cfg,
          keyPrefix,
          metrics,
          clock,
          onError: (err: unknown) => emit('session_refresh_failed', { err }),
          ...(opts.sleep ? { sleep: opts.sleep } : {}),
          ...(opts.activeSessions ? { activeSessions: opts.activeSessions } : {}),
        })
      : undefined;

  const tick = () => {
    if (running) return;
    running = expirePass(opts, batchSize)
      .then(pruneOnce)
      .catch((err: unknown) => emit('session_sweep_failed', { err }))
      .finally(() => (running = undefined));
  };

  return {
    sweepOnce: () => expirePass(opts, batchSize),
    pruneOnce,
    refresher,
    start() {
      if (timer) return;
      timer = setInterval(tick, cfg.sweepIntervalSecs * 1000);
      timer.unref();
      refresher?.start();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await Promise.all([running, refresher?.stop()]);
    },
  };
}
