// The per-shard composition (`redis.shards`): each shard of the keyspace has its own session
// engine, outbox relay, push queue and workers, and sweeper, built by the composition root's
// factories with the shard's key prefix; here they are put behind the one-shard interfaces the
// composition root starts and stops. The session engine front sends each IP of an event to its
// shard's engine, so an IP's events are applied in order within its shard. With one shard, the
// one component is used as it is.
import type { QueueConfig } from './config/schema.js';
import { canonicalIp } from './identity/ip.js';
import type { Metrics } from './ops/metrics.js';
import type { RedisClient } from './redis/connection.js';
import { ipKey, keyspace } from './redis/keys.js';
import type { Shards } from './redis/shards.js';
import type { OutboxRelay } from './queue/relay.js';
import type { PushQueue } from './queue/jobs.js';
import type { PushWorkers } from './queue/worker.js';
import type { SessionEngine } from './sessions/engine.js';
import type { Sweeper } from './sessions/sweeper.js';
import type { VpnEvent } from './types.js';

/** The session engines of all shards: what the journal and the ingest side feed. */
export type ShardedEngine = Pick<SessionEngine, 'submit' | 'drain' | 'ready' | 'close'>;

/**
 * `ptim_sessions_active` over shards: each shard's engine and sweeper report its own index's
 * count (`setter(i)`), the gauge holds the sum.
 */
export class ActiveSessions {
  private readonly counts: number[];
  constructor(
    private readonly metrics: Metrics,
    private readonly shards: Shards,
  ) {
    this.counts = shards.prefixes.map(() => 0);
  }

  /** Shard i's reporter. */
  setter(i: number): (active: number) => void {
    return (active) => {
      this.counts[i] = active;
      this.metrics.sessionsActive.set(this.counts.reduce((a, b) => a + b, 0));
    };
  }

  /** Reads every shard's count (at start, before the first decision). */
  async read(redis: RedisClient): Promise<void> {
    const counts = await Promise.all(this.shards.prefixes.map((p) => redis.zcard(keyspace(p).sessionIndex)));
    counts.forEach((c, i) => (this.counts[i] = c));
    this.metrics.sessionsActive.set(counts.reduce((a, b) => a + b, 0));
  }
}

/** The event split by shard: each shard's part keeps the event and its own IPs (a non-IP goes to shard 0, which counts it). */
export function splitByShard(shards: Shards, scope: string, event: VpnEvent): Map<number, VpnEvent> {
  const ips = new Map<number, string[]>();
  for (const raw of event.ips) {
    const ip = canonicalIp(raw);
    const shard = ip === undefined ? 0 : shards.of(ipKey(ip, scope));
    const list = ips.get(shard);
    if (list) list.push(raw);
    else ips.set(shard, [raw]);
  }
  const parts = new Map<number, VpnEvent>();
  for (const [shard, list] of ips) parts.set(shard, list.length === event.ips.length ? event : { ...event, ips: list });
  return parts;
}

/**
 * One engine per shard behind the engine contract: `submit` routes each IP to its shard's engine,
 * `drain` waits for every shard, `ready` needs every shard. The journal in front of it stays one
 * per process: a replay is submitted here and so routed like new events.
 */
export function shardedEngine(
  shards: Shards,
  scope: string,
  make: (keyPrefix: string, activeSessions: (active: number) => void) => SessionEngine,
  active: ActiveSessions,
): ShardedEngine {
  const engines = shards.prefixes.map((p, i) => make(p, active.setter(i)));
  if (engines.length === 1) return engines[0]!;
  return {
    submit(event, correlationId) {
      for (const [shard, part] of splitByShard(shards, scope, event)) engines[shard]!.submit(part, correlationId);
    },
    drain: async () => {
      await Promise.all(engines.map((e) => e.drain()));
    },
    ready: () => engines.every((e) => e.ready()),
    close: async () => {
      await Promise.all(engines.map((e) => e.close()));
    },
  };
}

/** What the composition root needs of the relays: start, stop, and each shard's push queue. */
export interface ShardedRelay {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** By shard index. */
  readonly pushQueues: readonly PushQueue[];
}

export function shardedRelay(shards: Shards, make: (keyPrefix: string) => OutboxRelay): ShardedRelay {
  const relays = shards.prefixes.map(make);
  return {
    pushQueues: relays.map((r) => r.pushQueue),
    start: async () => {
      await Promise.all(relays.map((r) => r.start()));
    },
    stop: async () => {
      await Promise.all(relays.map((r) => r.stop()));
    },
  };
}

export interface ShardedWorkers {
  /** Starts fetching jobs on every shard's queue. */
  run(): void;
  waitUntilReady(): Promise<void>;
  close(): Promise<void>;
}

/** Each shard's workers get an equal part of `queue.concurrency` (at least one), so the process's total stays about the same. */
export function shardQueueConfig<Q extends Pick<QueueConfig, 'concurrency'>>(queue: Q, shards: Shards): Q {
  const n = shards.prefixes.length;
  return n === 1 ? queue : { ...queue, concurrency: Math.max(1, Math.ceil(queue.concurrency / n)) };
}

export function shardedWorkers(shards: Shards, make: (keyPrefix: string) => PushWorkers): ShardedWorkers {
  const all = shards.prefixes.map(make);
  return {
    run: () => {
      for (const w of all) void w.worker.run();
    },
    waitUntilReady: async () => {
      await Promise.all(all.map((w) => w.waitUntilReady()));
    },
    close: async () => {
      await Promise.all(all.map((w) => w.close()));
    },
  };
}

export function shardedSweeper(
  shards: Shards,
  make: (keyPrefix: string, shard: number) => Sweeper,
): Pick<Sweeper, 'start' | 'stop'> {
  const all = shards.prefixes.map(make);
  return {
    start: () => all.forEach((s) => s.start()),
    stop: async () => {
      await Promise.all(all.map((s) => s.stop()));
    },
  };
}
