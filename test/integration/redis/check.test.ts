import { afterEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { PtimError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { checkRedis } from '../../../src/redis/check.js';
import { connectRedis, createRedisConnection } from '../../../src/redis/connection.js';
import { freePort } from '../../helpers/redis.js';
import { useRedisConnections } from '../queue/connections.js';

const db = useRedisConnections('command');

function capture() {
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

async function rejection(p: Promise<unknown>): Promise<PtimError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(PtimError);
    return e as PtimError;
  }
  throw new Error('expected a rejection');
}

afterEach(async () => {
  if (db.srv.owned) await db.command.config('SET', 'maxmemory-policy', 'noeviction');
});

describe('checkRedis', () => {
  it('accepts noeviction on Redis 7 and warns that AOF is off', async () => {
    const { logger, lines } = capture();
    const r = await checkRedis(db.command, { allowEviction: false, logger });
    expect(r.maxmemoryPolicy).toBe('noeviction');
    expect(Number(r.version.split('.')[0])).toBeGreaterThanOrEqual(7);
    expect(r.aofEnabled).toBe(false); // the test server runs without AOF
    expect(r.warnings.some((w) => w.includes('AOF'))).toBe(true);
    expect(lines.some((l) => l.level === 40 && l.msg.includes('AOF'))).toBe(true);
  });

  it('refuses an evicting maxmemory-policy with PTIM_ERR_REDIS_EVICTION and the fix', async () => {
    if (!db.srv.owned) return expect(db.srv.owned).toBe(false); // needs CONFIG SET on a private server
    await db.command.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const e = await rejection(checkRedis(db.command, { allowEviction: false }));
    expect(e.code).toBe('PTIM_ERR_REDIS_EVICTION');
    expect(e.message).toContain('allkeys-lru');
    expect(e.message).toContain('CONFIG SET maxmemory-policy noeviction');
  });

  it('with allowEviction only warns, loudly', async () => {
    if (!db.srv.owned) return expect(db.srv.owned).toBe(false);
    await db.command.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const { logger, lines } = capture();
    const r = await checkRedis(db.command, { allowEviction: true, logger });
    expect(r.maxmemoryPolicy).toBe('allkeys-lru');
    expect(lines.some((l) => l.level === 40 && l.msg.includes('EVICT'))).toBe(true);
  });

  it('falls back to INFO when CONFIG GET is denied and rejects an old server version', async () => {
    const info = await db.command.info();
    // A managed Redis that denies CONFIG, seen through a stand-in client.
    const managed = {
      info: async () => info,
      config: async () => {
        throw new Error("ERR unknown command 'CONFIG'");
      },
    } as unknown as Redis;
    const r = await checkRedis(managed, { allowEviction: false });
    expect(r.maxmemoryPolicy).toBe('noeviction');
    expect(r.aofEnabled).toBe(false);

    const old = {
      ...managed,
      info: async () => info.replace(/redis_version:[^\r\n]+/, 'redis_version:6.2.14'),
    } as unknown as Redis;
    expect((await rejection(checkRedis(old, { allowEviction: false }))).code).toBe('PTIM_ERR_REDIS_VERSION');

    const silent = { ...managed, info: async () => 'redis_version:7.2.0\r\n' } as unknown as Redis;
    const w = await checkRedis(silent, { allowEviction: false });
    expect(w.maxmemoryPolicy).toBeUndefined();
    expect(w.warnings.some((x) => x.includes('maxmemory-policy'))).toBe(true);
  });
});

describe('connectRedis', () => {
  it('reports an unreachable Redis as PTIM_ERR_REDIS_UNREACHABLE without the password', async () => {
    const url = `redis://:s3cret@127.0.0.1:${await freePort()}`;
    const r = createRedisConnection(url, 'producer', { connectTimeoutSecs: 1 });
    try {
      const e = await rejection(connectRedis(r, url, 1));
      expect(e.code).toBe('PTIM_ERR_REDIS_UNREACHABLE');
      expect(e.message).not.toContain('s3cret');
    } finally {
      r.disconnect();
    }
  });

  it('gives each role the ioredis options BullMQ asks for', () => {
    const w = createRedisConnection(db.srv.url, 'worker', { connectTimeoutSecs: 5 });
    const p = createRedisConnection(db.srv.url, 'producer', { connectTimeoutSecs: 5 });
    expect(w.options.maxRetriesPerRequest).toBeNull();
    expect(p.options.enableOfflineQueue).toBe(false);
    w.disconnect();
    p.disconnect();
  });
});
