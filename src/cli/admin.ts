// Operator commands that read or change state in Redis: sessions, queue depth, failed events.
import type { Config } from '../config/schema.js';
import { listFailed, purgeFailed, queueStats, retryFailed } from '../queue/admin.js';
import { formatFailedJobs, formatPurgeResult, formatQueueStats, formatRetryResult, table } from '../queue/format.js';
import { createPushQueue, type PushQueue } from '../queue/jobs.js';
import { connectRedis, createRedisClient, resolveRedisTarget, type RedisClient } from '../redis/connection.js';
import { listSessions } from '../sessions/query.js';

type Out = NodeJS.WritableStream;
const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString().replace('.000Z', 'Z') : '-');

/** Opens a command connection and the push queue, runs `fn`, and always closes both. */
export async function withRedis<T>(config: Config, fn: (redis: RedisClient, queue: PushQueue) => Promise<T>): Promise<T> {
  const target = await resolveRedisTarget(config.redis);
  const redis = createRedisClient(target, 'command', { connectTimeoutSecs: config.redis.connectTimeoutSecs });
  try {
    await connectRedis(redis, target.display, config.redis.connectTimeoutSecs);
    const queue = createPushQueue(redis, config.redis.keyPrefix);
    try {
      return await fn(redis, queue);
    } finally {
      await queue.close();
    }
  } finally {
    redis.disconnect();
  }
}

export async function showSessions(config: Config, out: Out, opts: { json?: boolean }): Promise<number> {
  const sessions = await withRedis(config, (redis) => listSessions(redis, config.redis.keyPrefix));
  if (opts.json) {
    out.write(`${JSON.stringify(sessions, null, 2)}\n`);
    return 0;
  }
  out.write(
    `${table(
      ['IP', 'USER', 'DOMAIN', 'FIREWALL', 'VPN', 'SINCE', 'LAST UP', 'LAST REKEY', 'SEQ', 'TUNNELS'],
      sessions.map((s) => [
        s.ip,
        s.user,
        s.domain,
        s.firewall,
        s.vpn ?? '-',
        iso(s.since),
        iso(s.lastUpAt),
        iso(s.lastRekeyAt),
        String(s.seq),
        s.tunnels.join(',') || '-',
      ]),
    )}\n${sessions.length} session(s)\n`,
  );
  return 0;
}

export async function showQueue(config: Config, out: Out, opts: { json?: boolean }): Promise<number> {
  const stats = await withRedis(config, (redis, queue) => queueStats(queue, redis, config.redis.keyPrefix));
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
