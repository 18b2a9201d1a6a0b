// Memory and time of `ptim-bridge sessions` as the session count grows: the listing streams from
// Redis, so peak RSS must stay flat from 10 k to 1 M sessions, for the table and for --json.
// Sessions are written by the real session engine into a private redis-server.
// Run: node --import tsx bench/sessions-view.ts   (SIZES=10000,100000,1000000 to change the steps)
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { defaultConfig } from '../src/config/schema.js';
import { silentLogger } from '../src/log.js';
import { createMetrics } from '../src/ops/metrics.js';
import { createSessionEngine } from '../src/sessions/engine.js';
import { startRedis } from '../test/helpers/redis.js';

const SIZES = (process.env.SIZES ?? '10000,100000,1000000').split(',').map(Number);
const CHILD = fileURLToPath(new URL('./sessions-view-child.ts', import.meta.url));

const server = await startRedis();
const redis = new Redis(server.url);
const keyPrefix = server.keyPrefix;
const T0 = 1_700_000_000_000;

/** Adds sessions `from`..`to`-1 (IPv4 10.x.y.z, a few users per firewall/VPN) through the engine. */
async function seed(from: number, to: number): Promise<void> {
  const engine = createSessionEngine({
    redis,
    cfg: { ...defaultConfig().sessions, bufferMaxEvents: to - from },
    keyPrefix,
    metrics: createMetrics(),
    logger: silentLogger,
    clock: { now: () => T0 },
    batchSize: 500,
  });
  for (let i = from; i < to; i++) {
    engine.submit(
      {
        kind: 'up',
        user: `user${i}`,
        domain: 'example.com',
        ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
        firewall: `srx-${i % 8}`,
        vpn: i % 4 ? 'ra-vpn' : 'lab-vpn',
        tunnelId: String(131072 + (i % 4096)),
        patternId: 'bench',
        receivedAt: T0 + i,
      },
      `c${i}`,
    );
    // Keep the submission buffer small: yield to let the engine apply what it has.
    if ((i - from) % 20_000 === 19_999) await engine.drain();
  }
  await engine.drain();
  await engine.close();
}

function run(opts: Record<string, unknown>): Promise<{ ms: number; maxRssBytes: number; outBytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, server.url, keyPrefix, JSON.stringify(opts)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let outBytes = 0;
    let err = '';
    child.stdout.on('data', (c: Buffer) => (outBytes += c.length));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = err.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`child exited ${code}: ${err}`));
      resolve({ ...(JSON.parse(last) as { ms: number; maxRssBytes: number }), outBytes });
    });
  });
}

const MB = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
const modes: [string, Record<string, unknown>][] = [
  ['table', {}],
  ['--json', { json: true }],
  ['--vpn lab-vpn --ip 10.0.0.0/9', { vpn: 'lab-vpn', ip: '10.0.0.0/9' }],
  ['--count', { count: true }],
  ['--limit 50', { limit: 50 }],
];
try {
  let have = 0;
  for (const size of SIZES) {
    const t = performance.now();
    await seed(have, size);
    have = size;
    const info = await redis.info('memory');
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
    console.log(
      `${size.toLocaleString('en-US')} sessions (seeded in ${((performance.now() - t) / 1000).toFixed(0)} s; Redis ${MB(used)}):`,
    );
    for (const [name, opts] of modes) {
      const r = await run(opts);
      console.log(
        `  sessions ${name.padEnd(30)} peak RSS ${MB(r.maxRssBytes).padStart(7)}  ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${Math.round(
          size / (r.ms / 1000),
        )
          .toLocaleString('en-US')
          .padStart(9)} sessions/s  output ${MB(r.outBytes)}`,
      );
    }
  }
} finally {
  redis.disconnect();
  await server.stop();
}
