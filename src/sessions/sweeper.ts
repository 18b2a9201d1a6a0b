// Expires sessions that saw no UP or rekey for `sessionIdleSecs` (JIMS's own logoff time), so
// JIMS hears a disconnect even when the DOWN line was lost. Safe with several replicas: the
// session script re-checks idleness atomically, so a late UP always wins over a sweep. Each pass
// then prunes the bookkeeping of IPs that ended long enough ago (prune.ts).
import { randomUUID } from 'node:crypto';
import { rateLimiter } from '../log.js';
import { keyspace } from '../redis/keys.js';
import type { SessionAdapterOptions } from './options.js';
import { reportDecision } from './report.js';
import { pruneEnded, type PruneCounts } from './prune.js';
import { defineSessionScript, runSessionCall } from './script.js';

export interface SweeperOptions extends SessionAdapterOptions {
  /** Idle candidates examined per round trip. */
  batchSize?: number;
  /** An ended IP whose last push is still undelivered is kept at most this long (ms; queue.maxEventAgeSecs). Default sessionIdleSecs. */
  pendingLimitMs?: number;
}

export interface Sweeper {
  /** One expiry pass; resolves with the number of sessions expired. Rejects only if Redis fails. */
  sweepOnce(): Promise<number>;
  /** One pruning pass over ended IPs (also run after each timed sweep). */
  pruneOnce(): Promise<PruneCounts>;
  /** Sweeps every `sweepIntervalSecs` (never two passes at once); failures are logged, not thrown. */
  start(): void;
  stop(): Promise<void>;
}

export function createSweeper(opts: SweeperOptions): Sweeper {
  const { redis, cfg, keyPrefix, metrics, logger, clock } = opts;
  const batchSize = opts.batchSize ?? 500;
  const ks = keyspace(keyPrefix);
  const errorLog = rateLimiter(6, () => clock.now());
  defineSessionScript(redis);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

  const sweepOnce = async (): Promise<number> => {
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
        reportDecision(metrics, logger, r, r.events[0] ?? { ip: keys[i], correlationId });
        if (r.decision === 'expired') expiredNow++;
      }
      expired += expiredNow;
      // Skipped entries were refreshed (new score) or removed, so the next read moves on; a batch
      // with no expiry at all stops the pass rather than risk spinning (the next tick resumes).
      if (keys.length < batchSize || expiredNow === 0) break;
    }
    return expired;
  };

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

  const tick = () => {
    if (running) return;
    running = sweepOnce()
      .then(pruneOnce)
      .catch((err: unknown) => {
        const gate = errorLog();
        if (gate.allowed) logger.warn({ err, suppressedLogs: gate.suppressed }, 'session sweep failed; will retry');
      })
      .finally(() => (running = undefined));
  };

  return {
    sweepOnce,
    pruneOnce,
    start() {
      if (timer) return;
      timer = setInterval(tick, cfg.sweepIntervalSecs * 1000);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}
