// Operator commands that read or change state in Redis: sessions, queue depth, failed events.
import type { Config } from '../config/schema.js';
import { listFailed, purgeFailed, queueStats, retryFailed } from '../queue/admin.js';
import { PtimError } from '../errors.js';
import { clean, formatFailedJobs, formatPurgeResult, formatQueueStats, formatRetryResult, TableStream } from '../queue/format.js';
import { createPushQueue, type PushQueue } from '../queue/jobs.js';
import { openRedis, type RedisClient } from '../redis/connection.js';
import { shardsOf, type Shards } from '../redis/shards.js';
import { compileFilter, countSessions, scanSessions, type SessionFilter, type SessionView } from '../sessions/query.js';

type Out = NodeJS.WritableStream;
const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString().replace('.000Z', 'Z') : '-');

/** Opens a command connection and each shard's push queue, runs `fn`, and always closes them. */
export async function withRedis<T>(
  config: Config,
  fn: (redis: RedisClient, queues: PushQueue[], shards: Shards) => Promise<T>,
): Promise<T> {
  const redis = await openRedis(config.redis, 'command');
  try {
    const shards = shardsOf(config.redis.keyPrefix, config.redis.shards);
    const queues = shards.prefixes.map((p) => createPushQueue(redis, p));
    try {
      return await fn(redis, queues, shards);
    } finally {
      await Promise.all(queues.map((q) => q.close()));
    }
  } finally {
    redis.disconnect();
  }
}

export interface SessionsOptions extends SessionFilter {
  json?: boolean;
  /** At most this many sessions (a page); the listing then says how to get the next one. */
  limit?: number;
  /** Position token printed at the end of the previous page. */
  cursor?: string;
  /** Print only how many sessions match. */
  count?: boolean;
}

const SESSION_COLUMNS = ['IP', 'USER', 'DOMAIN', 'FIREWALL', 'VPN', 'SINCE', 'LAST UP', 'LAST REKEY', 'SEQ', 'TUNNELS'];

const sessionRow = (s: SessionView): string[] => [
  clean(s.ip, 45),
  clean(s.user, 64),
  clean(s.domain, 64),
  clean(s.firewall, 64),
  clean(s.vpn ?? '-', 64),
  iso(s.since),
  iso(s.lastUpAt),
  iso(s.lastRekeyAt),
  String(s.seq),
  clean(s.tunnels.join(',') || '-', 64),
];

/** Writes and waits for the stream to take it: at a million rows, memory must not fill with output. */
export function writer(out: Out): (text: string) => Promise<void> {
  return (text) =>
    text === '' || out.write(text) ? Promise.resolve() : new Promise((resolve) => out.once('drain', () => resolve()));
}

/**
 * `sessions`: streams matching sessions from Redis (table or a JSON array) in constant memory, a
 * page at a time with `--limit`/`--cursor`, or only their number with `--count`.
 */
export async function showSessions(config: Config, out: Out, opts: SessionsOptions, err: Out = process.stderr): Promise<number> {
  const filter: SessionFilter = { user: opts.user, ip: opts.ip, firewall: opts.firewall, vpn: opts.vpn };
  const bad = compileFilter(filter);
  if (typeof bad === 'string') throw new PtimError('PTIM_ERR_USAGE', bad);
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit > 0))
    throw new PtimError('PTIM_ERR_USAGE', '--limit must be a positive whole number');
  const filtered = Object.values(filter).some((v) => v !== undefined);
  return withRedis(config, async (redis, _queues, prefix) => {
    if (opts.count && !filtered && !opts.cursor) {
      const n = await countSessions(redis, prefix);
      out.write(opts.json ? `${JSON.stringify({ count: n })}\n` : `${n}\n`);
      return 0;
    }
    const write = writer(out);
    const tbl = opts.json || opts.count ? undefined : new TableStream(SESSION_COLUMNS);
    let n = 0;
    let next: string | undefined;
    for await (const s of scanSessions(redis, prefix, { filter, after: opts.cursor })) {
      if (opts.limit !== undefined && n >= opts.limit) break;
      n++;
      next = s.next;
      if (tbl) await write(tbl.push(sessionRow(s.session)));
      else if (opts.json && !opts.count) await write(`${n === 1 ? '[\n' : ',\n'}${JSON.stringify(s.session)}`);
    }
    const more = opts.limit !== undefined && n >= opts.limit && next !== undefined;
    if (opts.count) await write(opts.json ? `${JSON.stringify({ count: n })}\n` : `${n}\n`);
    else if (opts.json) await write(n === 0 ? '[]\n' : '\n]\n');
    else await write(`${tbl!.end()}${n} session(s)${more ? `; next page: --cursor ${next}` : ''}\n`);
    if (more && opts.json) err.write(`next page: --cursor ${next}\n`);
    return 0;
  });
}

export async function showQueue(config: Config, out: Out, opts: { json?: boolean }): Promise<number> {
  const stats = await withRedis(config, (redis, queues, shards) => queueStats(queues, redis, shards));
  out.write(opts.json ? `${JSON.stringify(stats, null, 2)}\n` : `${formatQueueStats(stats)}\n`);
  return 0;
}

export async function failedList(config: Config, out: Out, opts: { limit: number; json?: boolean }): Promise<number> {
  const rows = await withRedis(config, (_r, queue) => listFailed(queue, { limit: opts.limit }));
  out.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : `${formatFailedJobs(rows)}\n`);
  return 0;
}

export async function failedRetry(config: Config, out: Out, opts: { ids: string[]; all?: boolean }): Promise<number> {
  if (!opts.all && opts.ids.length === 0) {
    out.write('name job ids to retry, or --all\n');
    return 2;
  }
  const r = await withRedis(config, (_r, queue) => retryFailed(queue, opts.all ? { all: true } : { jobIds: opts.ids }));
  out.write(`${formatRetryResult(r)}\n`);
  return r.skipped.length ? 1 : 0;
}

export async function failedPurge(config: Config, out: Out, opts: { olderThanSecs?: number }): Promise<number> {
  const ids = await withRedis(config, (_r, queue) => purgeFailed(queue, opts));
  out.write(`${formatPurgeResult(ids)}\n`);
  return 0;
}
