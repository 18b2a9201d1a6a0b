// Paging and searching the session index without loading it: rank pages newest first, direct IP
// lookups, and scans that stop at the page size or the scan budget and continue from a cursor.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCAN_BUDGET, searchSessions } from '../../../src/console/search.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { seededIp, seedSessions } from './seed.js';

const N = 2500;
let redis: TestRedis;
let client: Redis;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  await seedSessions(client, redis.keyPrefix, N);
});

afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

describe('session search', () => {
  it('pages through the index newest first, with a cursor', async () => {
    const p1 = await searchSessions(client, redis.keyPrefix, { limit: 100 });
    expect(p1.total).toBe(N);
    expect(p1.sessions).toHaveLength(100);
    expect(p1.sessions[0]?.ip).toBe(seededIp(N - 1));
    expect(p1.nextCursor).toBe(100);
    const last = await searchSessions(client, redis.keyPrefix, { limit: 100, cursor: N - 50 });
    expect(last.sessions).toHaveLength(50);
    expect(last.sessions.at(-1)?.ip).toBe(seededIp(0));
    expect(last.nextCursor).toBeNull();
  });

  it('finds a whole IP directly, without scanning', async () => {
    const r = await searchSessions(client, redis.keyPrefix, { q: seededIp(1234), field: 'ip' });
    expect(r.sessions.map((s) => s.user)).toEqual(['user1234']);
    expect(r.scanned).toBe(1);
    expect((await searchSessions(client, redis.keyPrefix, { q: '10.200.0.1', field: 'ip' })).sessions).toEqual([]);
  });

  it('scans by field and continues from where the page filled', async () => {
    const p1 = await searchSessions(client, redis.keyPrefix, { q: 'FW-B', field: 'firewall', limit: 10 });
    expect(p1.sessions).toHaveLength(10);
    expect(p1.sessions.every((s) => s.firewall === 'fw-b')).toBe(true);
    const p2 = await searchSessions(client, redis.keyPrefix, { q: 'fw-b', field: 'firewall', limit: 10, cursor: p1.nextCursor! });
    expect(p2.sessions[0]!.lastUpAt).toBeLessThan(p1.sessions.at(-1)!.lastUpAt);
    const users = await searchSessions(client, redis.keyPrefix, { q: 'user12', field: 'user', limit: 500 });
    // user12, user120–129, user1200–1299
    expect(users.sessions).toHaveLength(111);
    expect(users.nextCursor).toBeNull();
    expect(users.scanned).toBe(N);
  });

  it('stops a scan at the budget and hands back a cursor to continue from', async () => {
    const q = { q: 'nobody', limit: 10, scanBudget: 1000 };
    const first = await searchSessions(client, redis.keyPrefix, q);
    expect(first).toMatchObject({ sessions: [], nextCursor: 1000, scanned: 1000 });
    const second = await searchSessions(client, redis.keyPrefix, { ...q, cursor: 1000 });
    expect(second).toMatchObject({ nextCursor: 2000, scanned: 1000 });
    const rest = await searchSessions(client, redis.keyPrefix, { ...q, cursor: 2000 });
    expect(rest).toMatchObject({ nextCursor: null, scanned: N - 2000 });
    expect(SCAN_BUDGET).toBe(20_000);
    // The cursor of a filled page is exactly after its last hit.
    const one = await searchSessions(client, redis.keyPrefix, { q: 'user2', field: 'user', limit: 1 });
    expect(one.sessions.map((s) => s.user)).toEqual(['user2499']);
    expect(one.nextCursor).toBe(1);
  });
});
