// A private redis-server child process on a free loopback port: the demo uses it when no Redis
// URL is configured, and the tests use it so they never touch a Redis they did not start.
import { performance } from 'node:perf_hooks';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { PtimError } from '../errors.js';

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Start again on the same port and data directory (AOF data survives when enabled). */
  restart(): Promise<void>;
  /** Kill and delete the data directory. */
  stop(): Promise<void>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = createServer();
  srv.listen(0, host);
  await once(srv, 'listening');
  const addr = srv.address();
  await new Promise((r) => srv.close(r));
  if (!addr || typeof addr === 'string') throw new Error('no free port');
  return addr.port;
}

/** Resolves once `url` answers PING, polling every 25 ms up to `timeoutMs` of real (monotonic) time. */
export async function waitForRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return;
    } catch (e) {
      last = e;
      r.disconnect();
      await new Promise((res) => setTimeout(res, 25));
    }
  }
  throw new Error(`redis at ${url} not ready after ${timeoutMs} ms: ${String(last)}`);
}

export async function startPrivateRedis(
  opts: {
    appendonly?: boolean;
    port?: number;
    appendfsync?: 'always' | 'everysec';
    /** More redis-server arguments (tests: `--replicaof`, `--cluster-enabled` …). */
    extraArgs?: readonly string[];
  } = {},
): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'ptim-redis-'));
  const port = opts.port ?? (await freePort());
  const url = `redis://127.0.0.1:${port}`;
  // Same durability and eviction settings as the shipped compose file.
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--dir',
    dir,
    '--appendonly',
    opts.appendonly === false ? 'no' : 'yes',
    '--appendfsync',
    opts.appendfsync ?? 'everysec',
    '--maxmemory-policy',
    'noeviction',
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
    ...(opts.extraArgs ?? []),
  ];
  let child: ChildProcess | undefined;
  const launch = async () => {
    const c = spawn('redis-server', args, { stdio: 'ignore' });
    child = c;
    const failed = new Promise<never>((_, reject) =>
      c.once('error', (e) =>
        reject(
          new PtimError(
            'PTIM_ERR_REDIS_SERVER_MISSING',
            `cannot start redis-server (${e.message}): install Redis 7 or configure redis.url / REDIS_URL`,
          ),
        ),
      ),
    );
    failed.catch(() => {});
    await Promise.race([waitForRedis(url), failed]);
  };
  const kill = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const c = child;
    c.kill('SIGKILL');
    await once(c, 'exit');
  };
  await launch();
  return {
    url,
    port,
    dir,
    kill,
    restart: launch,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
