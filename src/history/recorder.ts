// The per-IP history writer. Callers hand it entries synchronously (an array push: nothing on the
// ingest path waits for Redis); a timer writes them in one pipeline per batch: XADD to a stream per
// IP trimmed to `maxEntriesPerIp` exactly, EXPIRE `ttlSecs` once per IP per batch, and one PUBLISH of
// the batch's decisions for the console's live view. Memory is bounded: beyond MAX_BUFFERED entries
// new ones are dropped and counted, never queued without limit.
import type { RedisClient } from '../redis/connection.js';
import type { HistoryConfig } from '../config/schema.js';
import { createEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { ipKey, keyspace } from '../redis/keys.js';
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

export function historyKeys(keyPrefix: string): HistoryKeys {
  const tag = keyspace(keyPrefix).tag;
  return { ip: (ip) => `${tag}:h:${ipKey(ip)}`, live: `${tag}:console:live` };
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

export function createHistoryRecorder(deps: {
  redis: RedisClient;
  keyPrefix: string;
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

  const write = async (batch: { ip: string; entry: HistoryEntry }[]) => {
    const p = redis.pipeline();
    const touched = new Set<string>();
    const live: LiveDecision[] = [];
    for (const { ip, entry } of batch) {
      const key = keys.ip(ip);
      p.xadd(key, 'MAXLEN', String(cfg.maxEntriesPerIp), '*', 'e', JSON.stringify(entry));
      touched.add(key);
      if (entry.type === 'decision')
        live.push({ ip, at: entry.at, decision: entry.decision, seq: entry.seq, ...(entry.user ? { user: entry.user } : {}) });
    }
    for (const key of touched) p.expire(key, cfg.ttlSecs);
    if (live.length) p.publish(keys.live, JSON.stringify(live));
    const res = (await p.exec()) ?? [];
    const errors = res.filter(([e]) => e).length;
    recorded.inc(batch.length - Math.min(errors, batch.length));
    if (errors) throw res.find(([e]) => e)![0]!;
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
