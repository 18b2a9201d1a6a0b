// The Redis a queue test file runs on, with connections made as the bridge makes them. Apart from
// helpers.ts because it registers vitest hooks, and helpers.ts is also loaded by bench/queue.ts.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { connectRedis, createRedisConnection, type RedisRole } from '../../../src/redis/connection.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';

export type RedisConnections<R extends RedisRole> = { readonly srv: TestRedis } & { readonly [K in R]: Redis };

/**
 * A private Redis for the calling test file and one connection per role, made and connected as
 * the bridge makes them: opened in beforeAll, quit (then the server stopped) in afterAll.
 */
export function useRedisConnections<R extends RedisRole>(...roles: R[]): RedisConnections<R> {
  // Filled in beforeAll: read the fields inside tests and hooks, not at collection time.
  const db = {} as { srv: TestRedis } & Record<RedisRole, Redis>;
  beforeAll(async () => {
    db.srv = await startRedis();
    for (const role of roles) db[role] = createRedisConnection(db.srv.url, role, { connectTimeoutSecs: 5 });
    for (const role of roles) await connectRedis(db[role], db.srv.url, 5);
  });
  afterAll(async () => {
    for (const role of roles) await db[role].quit();
    await db.srv.stop();
  });
  return db;
}
