// Gives a test its own Redis: a private `redis-server` on a free loopback port (killable for
// fault tests), or the server named by REDIS_URL when set. A Redis we did not start is never
// flushed: tests get a unique key prefix instead, always.
import { randomUUID } from 'node:crypto';
import { freePort, startPrivateRedis, waitForRedis } from '../../src/demo/redis-server.js';

export { freePort };

export interface TestRedis {
  url: string;
  port: number;
  /** A key prefix unique to this test run (always safe, even on a shared Redis). */
  keyPrefix: string;
  /** True when this helper started the server (then kill/restart are allowed). */
  owned: boolean;
  /** SIGKILL the server (owned only). */
  kill(): Promise<void>;
  /** Start it again on the same port and data directory (owned only). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(opts: { appendonly?: boolean } = {}): Promise<TestRedis> {
  const keyPrefix = `t${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const external = process.env.REDIS_URL;
  if (external) {
    await waitForRedis(external);
    const refuse = async () => {
      throw new Error('fault tests need a private redis-server; unset REDIS_URL');
    };
    const port = Number(new URL(external).port || 6379);
    return { url: external, port, keyPrefix, owned: false, kill: refuse, restart: refuse, stop: async () => {} };
  }
  try {
    // appendfsync always: a SIGKILLed test server loses nothing, so fault tests test the bridge,
    // not Redis's one-second fsync window (production's everysec may lose up to ~1 s on a crash).
    const r = await startPrivateRedis({ appendonly: opts.appendonly ?? false, appendfsync: 'always' });
    return { url: r.url, port: r.port, keyPrefix, owned: true, kill: r.kill, restart: r.restart, stop: r.stop };
  } catch (e) {
    throw new Error(`tests need redis-server on PATH or REDIS_URL set to a Redis 7 server: ${(e as Error).message}`);
  }
}
