// Gives a test its own Redis: a private `redis-server` on a free loopback port (killable for
// fault tests), or the server named by REDIS_URL when set. A Redis we did not start is never
// flushed: tests then get a unique key prefix instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

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

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  srv.close();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

async function waitReady(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return;
    } catch (e) {
      lastErr = e;
      r.disconnect();
      await new Promise((res) => setTimeout(res, 25));
    }
  }
  throw new Error(`redis at ${url} not ready: ${String(lastErr)}`);
}

export async function startRedis(opts: { appendonly?: boolean } = {}): Promise<TestRedis> {
  const prefix = `t${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const external = process.env.REDIS_URL;
  if (external) {
    await waitReady(external);
    const port = Number(new URL(external).port || 6379);
    const refuse = async () => {
      throw new Error('fault tests need a private redis-server; unset REDIS_URL');
    };
    return { url: external, port, keyPrefix: prefix, owned: false, kill: refuse, restart: refuse, stop: async () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), 'ptim-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir,
    '--appendonly', opts.appendonly ? 'yes' : 'no', '--appendfsync', 'always',
    '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--loglevel', 'warning',
  ];
  const launch = async () => {
    const c = spawn('redis-server', args, { stdio: 'ignore' });
    const failed = new Promise<never>((_, rej) =>
      c.once('error', (e) =>
        rej(new Error(`cannot start redis-server (${e.message}); install it or set REDIS_URL to a Redis 7 server`)),
      ),
    );
    child = c;
    await Promise.race([waitReady(`redis://127.0.0.1:${port}`), failed]);
  };
  await launch();
  const kill = async () => {
    if (!child || child.exitCode !== null) return;
    const c = child;
    c.kill('SIGKILL');
    await once(c, 'exit');
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    keyPrefix: prefix,
    owned: true,
    kill,
    restart: launch,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
