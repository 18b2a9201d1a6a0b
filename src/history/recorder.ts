// The per-IP history writer. Callers hand it entries synchronously (an array push: nothing on the
// ingest path waits for Redis); a timer writes them in one pipeline per batch: XADD to a stream per
// IP trimmed to `maxEntriesPerIp` exactly, EXPIRE `ttlSecs` once per IP per batch, and one PUBLISH of
// the batch's decisions for the console's live view. With several keyspace shards an IP's stream
// is under its shard's hash tag (one pipeline per shard: Cluster pipelines stay in one slot), so
// the history spreads over the masters like the sessions. Memory is bounded: beyond MAX_BUFFERED entries
// new ones are dropped and counted, never queued without limit.
import type { RedisClient } from '../redis/connection.js';
import type { HistoryConfig } from '../config/schema.js';
import { createEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { ipKey, keyspace } from '../redis/keys.js';
import { asShards, type Shards } from '../redis/shards.js';
import type { Clock } from '../types.js';
import type { HistoryEntry } from './entries.js';

export const FLUSH_INTERVAL_MS = 200;
const FLUSH_BATCH = 500;
export const MAX_BUFFERED = 20_000;

export interface HistoryKeys {
  /** Stream of one IP's recent entries. */
  ip(ip: string): string;
  /** Pub/sub channel of decisions (the console's live updates). */
  readonly live: string;
}

export function historyKeys(keyPrefix: string | Shards): HistoryKeys {
  const shards = asShards(keyPrefix);
  return {
    ip: (ip) => {
      const key = ipKey(ip);
      return `${shards.keyspaceOf(key).tag}:h:${key}`;
    },
    live: `${keyspace(shards.base).tag}:console:live`,
  };
}

type Batch = { ip: string; entry: HistoryEntry }[];

/** The batch by hash tag of its entries' streams (one group without sharding). */
function byTag(batch: Batch, keys: HistoryKeys): Batch[] {
  const groups = new Map<string, Batch>();
  for (const e of batch) {
    const key = keys.ip(e.ip);
    const tag = key.slice(0, key.indexOf('}') + 1);
    const g = groups.get(tag);
    if (g) g.push(e);
    else groups.set(tag, [e]);
  }
  return [...groups.values()];
}

/** What the live channel carries per decision. */
export interface LiveDecision {
  readonly ip: string;
  readonly at: number;
  readonly decision: string;
  readonly user?: string;
  readonly seq: number;
}

export interface HistoryRecorder {
  record(ip: string, entry: HistoryEntry): void;
  /** Writes what is buffered now (the timer does this every FLUSH_INTERVAL_MS). */
  flush(): Promise<void>;
  start(): void;
  /** Flushes what is left, then stops the timer. */
  stop(): Promise<void>;
  readonly clock: Clock;
}

/**
 * One shard's entries in one pipeline, and the live channel's message when `withLive`; returns the
 * batch's decisions for the live channel.
 */
async function writeShardGroup(
  o: { redis: RedisClient; keys: HistoryKeys; cfg: HistoryConfig; recorded: { inc(n: number): void } },
  batch: Batch,
  withLive: boolean,
): Promise<LiveDecision[]> {
  const p = o.redis.pipeline();
  const touched = new Set<string>();
  const live: LiveDecision[] = [];
  for (const { ip, entry } of batch) {
    const key = o.keys.ip(ip);
    p.xadd(key, 'MAXLEN', String(o.cfg.maxEntriesPerIp), '*', 'e', JSON.stringify(entry));
    touched.add(key);
    if (entry.type === 'decision')
      live.push({ ip, at: entry.at, decision: entry.decision, seq: entry.seq, ...(entry.user ? { user: entry.user } : {}) });
  }
  for (const key of touched) p.expire(key, o.cfg.ttlSecs);
  if (withLive && live.length) p.publish(o.keys.live, JSON.stringify(live));
  const res = (await p.exec()) ?? [];
  const errors = res.filter(([e]) => e).length;
  o.recorded.inc(batch.length - Math.min(errors, batch.length));
  if (errors) throw res.find(([e]) => e)![0]!;
  return live;
}

export function createHistoryRecorder(deps: {
  redis: RedisClient;
  keyPrefix: string | Shards;
  cfg: HistoryConfig;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
}): HistoryRecorder {
  const { redis, cfg, metrics, logger, clock } = deps;
  const keys = historyKeys(deps.keyPrefix);
  let buffer: { ip: string; entry: HistoryEntry }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  const emit = createEvents({ metrics, logger, now: () => clock.now() });
  const recorded = metrics.historyEntries.labels({ result: 'recorded' });
  const dropped = metrics.historyEntries.labels({ result: 'dropped' });

  const group = { redis, keys, cfg, recorded };
  const writeGroup = (batch: Batch, withLive: boolean) => writeShardGroup(group, batch, withLive);
  const write = async (batch: Batch) => {
    const groups = byTag(batch, keys);
    if (groups.length === 1) return void (await writeGroup(batch, true));
    const live = (await Promise.all(groups.map((g) => writeGroup(g, false)))).flat();
    if (live.length) await redis.publish(keys.live, JSON.stringify(live));
  };

  const flush = async (): Promise<void> => {
    if (flushing) return flushing;
    flushing = (async () => {
      while (buffer.length) {
        const batch = buffer.slice(0, FLUSH_BATCH);
        buffer = buffer.slice(batch.length);
        // History is a diagnostic aid: a failed write is counted and logged, and not retried.
        await write(batch).catch((err: unknown) =>
          emit('history_write_failed', { err, entries: batch.length, count: batch.length }),
        );
      }
    })().finally(() => (flushing = undefined));
    return flushing;
  };

  return {
    clock,
    record(ip, entry) {
      if (cfg.maxEntriesPerIp === 0) return;
      if (buffer.length >= MAX_BUFFERED) {
        dropped.inc();
        return;
      }
      buffer.push({ ip, entry });
    },
    flush,
    start() {
      timer ??= setInterval(() => void flush(), FLUSH_INTERVAL_MS);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await flush();
    },
  };
}
