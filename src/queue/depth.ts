// Keeps the queue-depth gauge current: a small poller, because BullMQ has no push notification
// for counts and a scrape must not wait on Redis.
import type { RedisClient as Redis } from '../redis/connection.js';
import { rateLimiter, silentLogger, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { queueStats, type QueueStats } from './admin.js';
import type { PushQueue } from './jobs.js';

export interface QueueDepthPoller {
  /** One poll; resolves with the stats it published. */
  pollOnce(): Promise<QueueStats>;
  start(): void;
  stop(): void;
}

export function createQueueDepthPoller(opts: {
  queue: PushQueue;
  redis: Redis;
  keyPrefix: string;
  metrics: Metrics;
  intervalMs?: number;
  logger?: Logger;
}): QueueDepthPoller {
  const logger = opts.logger ?? silentLogger;
  const errorLog = rateLimiter(2, () => Date.now());
  let timer: NodeJS.Timeout | undefined;
  let inFlight = false;

  async function pollOnce(): Promise<QueueStats> {
    const s = await queueStats(opts.queue, opts.redis, opts.keyPrefix);
    const g = opts.metrics.queueDepth;
    g.set({ state: 'waiting' }, s.waiting + s.paused);
    g.set({ state: 'delayed' }, s.delayed);
    g.set({ state: 'active' }, s.active);
    g.set({ state: 'failed' }, s.failed);
    g.set({ state: 'completed' }, s.completed);
    g.set({ state: 'outbox' }, s.outbox);
    return s;
  }

  return {
    pollOnce,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        // Skip a tick rather than pile up polls while Redis is slow.
        if (inFlight) return;
        inFlight = true;
        pollOnce()
          .catch((e: unknown) => {
            const { allowed, suppressed } = errorLog();
            if (allowed) logger.warn({ err: (e as Error).message, suppressed }, 'queue depth poll failed');
          })
          .finally(() => {
            inFlight = false;
          });
      }, opts.intervalMs ?? 5000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
