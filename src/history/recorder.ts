// The per-IP history writer. Callers hand it entries synchronously (an array push: nothing on the
// ingest path waits for Redis); a timer writes them, or sooner once FLUSH_ENTRIES are waiting, one
// script call per ~64 entries: RPUSH to a list
// per IP trimmed to `maxEntriesPerIp`, EXPIRE `ttlSecs` once per IP per call, and one PUBLISH of the
// batch's decisions for the console's live view. Calls, not a command per entry: in a login
// storm three entries per event as separate commands cost more than the rest of delivery. A list,
// not a stream: a few entries per IP are what is kept, and a small list costs a fraction of a
// stream's memory and CPU. With several keyspace shards an IP's list is under its shard's hash tag
// (one call per shard: Cluster scripts stay in one slot), so the history spreads over the masters
// like the sessions. Memory is bounded: beyond MAX_BUFFERED entries new ones are dropped and
// counted, never queued without limit.
import type { RedisClient } from '../redis/connection.js';
import type { HistorySettings } from '../config/schema.js';
import { createEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { ipKey, keyspace } from '../redis/keys.js';
import { defineScript, queueScript } from '../redis/script.js';
import { asShards, type Shards } from '../redis/shards.js';
import type { Clock } from '../types.js';
import type { HistoryEntry } from './entries.js';

export const FLUSH_INTERVAL_MS = 200;
const FLUSH_BATCH = 500;
/**
 * A flush starts at once when this many entries wait (at a storm's 15,000 entries/s, every ~17 ms):
 * entries are written while they are young, not promoted to the old generation by waiting out the
 * timer, and each call still carries ~64.
 */
const FLUSH_ENTRIES = 256;
/**
 * Entries per script call, about (several calls share one pipeline): ~20 KB of arguments. Past a
 * few tens of KB a command's text costs more per byte to build and write than two smaller ones.
 */
const CALL_ENTRIES = 64;
export const MAX_BUFFERED = 20_000;

export interface HistoryKeys {
  /** List of one IP's recent entries, oldest first. */
  ip(ip: string): string;
  /** Pub/sub channel of decisions (the console's live updates). */
  readonly live: string;
}

export function historyKeys(keyPrefix: string | Shards): HistoryKeys {
  const shards = asShards(keyPrefix);
  return {
    ip: (ip) => {
      const key = ipKey(ip);
      return `${shards.keyspaceOf(key).tag}:hl:${key}`;
    },
    live: `${keyspace(shards.base).tag}:console:live`,
  };
}

const APPEND_COMMAND = 'ptimHistoryAppend';
/** ARGV: max entries per IP, TTL (s), then per key of KEYS: its entry count, then its entries' JSON. */
const APPEND = `
local max, at = tonumber(ARGV[1]), 3
for k = 1, #KEYS do
  local n = tonumber(ARGV[at])
  if redis.call('RPUSH', KEYS[k], unpack(ARGV, at + 1, at + n)) > max then redis.call('LTRIM', KEYS[k], -max, -1) end
  redis.call('EXPIRE', KEYS[k], ARGV[2])
  at = at + n + 1
end
return 0
`;

/** Entries waiting, as stored (JSON with their id), with their list's key; a decision also as the live channel carries it. */
type Batch = { key: string; json: string; live?: LiveDecision }[];

/** The batch by hash tag of its entries' lists (one group without sharding). */
function byTag(batch: Batch): Batch[] {
  const groups = new Map<string, Batch>();
  for (const e of batch) {
    const tag = e.key.slice(0, e.key.indexOf('}') + 1);
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

/** The stored form: the entry with its id first (a StoredHistoryEntry). Ids are digits and a dash. */
const stored = (id: string, entry: HistoryEntry): string => `{"id":"${id}",${JSON.stringify(entry).slice(1)}`;

const liveOf = (ip: string, e: HistoryEntry): LiveDecision | undefined =>
  e.type === 'decision' ? { ip, at: e.at, decision: e.decision, seq: e.seq, ...(e.user ? { user: e.user } : {}) } : undefined;

/**
 * The batch as script calls: entries grouped by list (in order within each), whole lists per call,
 * about CALL_ENTRIES entries a call. An IP's entries of one flush (its line and decision, say) go
 * in one RPUSH with one EXPIRE.
 */
function appendCalls(batch: Batch, cfg: HistorySettings): { keys: string[]; args: (string | number)[]; entries: number }[] {
  const byKey = new Map<string, string[]>();
  for (const e of batch) {
    const list = byKey.get(e.key);
    if (list) list.push(e.json);
    else byKey.set(e.key, [e.json]);
  }
  const calls: { keys: string[]; args: (string | number)[]; entries: number }[] = [];
  let call = { keys: [] as string[], args: [cfg.maxEntriesPerIp, cfg.ttlSecs] as (string | number)[], entries: 0 };
  for (const [key, entries] of byKey) {
    call.keys.push(key);
    call.args.push(entries.length, ...entries);
    call.entries += entries.length;
    if (call.entries >= CALL_ENTRIES) {
      calls.push(call);
      call = { keys: [], args: [cfg.maxEntriesPerIp, cfg.ttlSecs], entries: 0 };
    }
  }
  if (call.entries > 0) calls.push(call);
  return calls;
}

const liveDecisions = (batch: Batch): LiveDecision[] => batch.flatMap((e) => (e.live ? [e.live] : []));

/**
 * One shard's entries in one script call, and the live channel's message when `withLive`; returns
 * the batch's decisions for the live channel.
 */
async function writeShardGroup(
  o: { redis: RedisClient; keys: HistoryKeys; cfg: HistorySettings; recorded: { inc(n: number): void } },
  batch: Batch,
  withLive: boolean,
): Promise<LiveDecision[]> {
  const live = liveDecisions(batch);
  const p = o.redis.pipeline();
  const calls = appendCalls(batch, o.cfg);
  for (const { keys, args } of calls) queueScript(p, APPEND_COMMAND, keys, args);
  if (withLive && live.length) p.publish(o.keys.live, JSON.stringify(live));
  const res = (await p.exec()) ?? [];
  // Each call is all-or-nothing: count the entries of the calls that succeeded, report a failure.
  o.recorded.inc(calls.reduce((n, c, i) => (res[i]?.[0] ? n : n + c.entries), 0));
  const err = res.find(([e]) => e)?.[0];
  if (err) throw err;
  return live;
}

export function createHistoryRecorder(deps: {
  redis: RedisClient;
  keyPrefix: string | Shards;
  cfg: HistorySettings;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
}): HistoryRecorder {
  const { redis, cfg, metrics, logger, clock } = deps;
  const keys = historyKeys(deps.keyPrefix);
  defineScript(redis, APPEND_COMMAND, APPEND);
  let buffer: Batch = [];
  // Entry ids: the time recorded and a counter, unique and ordered in this process.
  let counter = 0;
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  const emit = createEvents({ metrics, logger, now: () => clock.now() });
  const recorded = metrics.historyEntries.labels({ result: 'recorded' });
  const dropped = metrics.historyEntries.labels({ result: 'dropped' });

  const group = { redis, keys, cfg, recorded };
  const writeGroup = (batch: Batch, withLive: boolean) => writeShardGroup(group, batch, withLive);
  const write = async (batch: Batch) => {
    const groups = byTag(batch);
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
      const id = `${Math.floor(clock.now())}-${(counter = (counter + 1) % 1e9)}`;
      const e: Batch[number] = { key: keys.ip(ip), json: stored(id, entry) };
      const live = liveOf(ip, entry);
      buffer.push(live ? { ...e, live } : e);
      // Once per crossing (the buffer grows one entry at a time), after the caller's turn.
      if (buffer.length === FLUSH_ENTRIES) setImmediate(() => void flush());
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
