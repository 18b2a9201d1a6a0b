// Keeps the queue-depth gauge current: a small poller, because BullMQ has no push notification
// for counts and a scrape must not wait on Redis.
import type { RedisClient } from '../redis/connection.js';
import { createEvents } from '../events.js';
import { silentLogger, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { keyspace } from '../redis/keys.js';
import { systemClock, type Clock } from '../types.js';
import { queueStats, type QueueStats } from './admin.js';
import type { PushQueue } from './jobs.js';

/**
 * When the oldest event still waiting for a push was received (ms), or undefined when none waits:
 * the head of the outbox (not yet relayed; its stream id is when the session engine wrote it) and
 * the oldest job of the wait list (by the event's receive time). Events between retries (`delayed`)
 * are not looked at: finding the oldest there means reading every one; a retried event ends in the
 * failed set after `queue.maxEventAgeSecs` and `ptim_push_total{outcome="retry"}` shows the retrying.
 */
export async function oldestQueuedAt(queue: PushQueue, redis: RedisClient, keyPrefix: string): Promise<number | undefined> {
  const [outbox, jobs] = await Promise.all([
    redis.xrange(keyspace(keyPrefix).outbox, '-', '+', 'COUNT', 1),
    queue.getJobs(['wait'], 0, 0, true),
  ]);
  const times: number[] = [];
  const id = outbox[0]?.[0];
  if (id !== undefined) times.push(Number(id.split('-')[0]));
  const data = jobs[0]?.data;
  // A batch job's events are in outbox order: its first is its oldest.
  const received = data && ('events' in data ? data.events[0]?.event.receivedAt : data.receivedAt);
  if (typeof received === 'number') times.push(received);
  return times.length ? Math.min(...times) : undefined;
}

export interface QueueDepthPoller {
  /** One poll; resolves with the stats it published. */
  pollOnce(): Promise<QueueStats>;
  start(): void;
  stop(): void;
}

export function createQueueDepthPoller(opts: {
  queue: PushQueue;
  redis: RedisClient;
  keyPrefix: string;
  metrics: Metrics;
  intervalMs?: number;
  logger?: Logger;
  clock?: Clock;
}): QueueDepthPoller {
  const logger = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const emit = createEvents({ metrics: opts.metrics, logger, now: () => clock.now() });
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
    const oldest = await oldestQueuedAt(opts.queue, opts.redis, opts.keyPrefix);
    opts.metrics.oldestQueuedAge.set(oldest === undefined ? 0 : Math.max(0, clock.now() - oldest) / 1000);
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
          .catch((err: unknown) => emit('queue_depth_poll_failed', { err }))
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
