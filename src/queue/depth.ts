// Keeps the queue-depth gauge current: a small poller, because BullMQ has no push notification
// for counts and a scrape must not wait on Redis. Each shard's counts carry its `shard` label
// (bounded by redis.shards); the oldest queued event is the oldest over all shards.
import type { RedisClient } from '../redis/connection.js';
import { createEvents } from '../events.js';
import { silentLogger, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { keyspace } from '../redis/keys.js';
import { asShards, type Shards } from '../redis/shards.js';
import { systemClock, type Clock } from '../types.js';
import { shardQueueStats, sumStats, type PushQueues, type QueueStats } from './admin.js';
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
  /** The push queue, or each shard's (`queue[i]` is shard i's). */
  queue: PushQueues;
  redis: RedisClient;
  keyPrefix: string | Shards;
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

  const prefixes = asShards(opts.keyPrefix).prefixes;
  const queues: readonly PushQueue[] = Array.isArray(opts.queue) ? opts.queue : [opts.queue as PushQueue];

  /** Publishes one shard's counts; returns them with its oldest queued event. */
  async function pollShard(i: number): Promise<{ s: QueueStats; oldest: number | undefined }> {
    const [queue, prefix] = [queues[i]!, prefixes[i]!];
    const s = await shardQueueStats(queue, opts.redis, prefix);
    const g = opts.metrics.queueDepth;
    const shard = String(i);
    g.set({ state: 'waiting', shard }, s.waiting + s.paused);
    g.set({ state: 'delayed', shard }, s.delayed);
    g.set({ state: 'active', shard }, s.active);
    g.set({ state: 'failed', shard }, s.failed);
    g.set({ state: 'completed', shard }, s.completed);
    g.set({ state: 'outbox', shard }, s.outbox);
    return { s, oldest: await oldestQueuedAt(queue, opts.redis, prefix) };
  }

  async function pollOnce(): Promise<QueueStats> {
    const per = await Promise.all(queues.map((_, i) => pollShard(i)));
    const times = per.flatMap((p) => (p.oldest === undefined ? [] : [p.oldest]));
    opts.metrics.oldestQueuedAge.set(times.length === 0 ? 0 : Math.max(0, clock.now() - Math.min(...times)) / 1000);
    return sumStats(per.map((p) => p.s));
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
