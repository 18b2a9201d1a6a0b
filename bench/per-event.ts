// CPU per VPN event in a login storm, bridge and Redis apart: N distinct users connect (one UP
// line each, N distinct IPs) at --rate events/s, submitted straight to the session engine, and
// go engine → session script → outbox → relay → BullMQ → push workers → JIMS client → simulator
// (its own process, so its CPU is not counted). Bridge CPU is this process's user+sys time from
// the first submit until the simulator holds all N identities; Redis CPU is the private
// redis-server's used_cpu_user+used_cpu_sys over the same span, and INFO commandstats tells the
// Redis commands per event.
// Run: node --import tsx bench/per-event.ts [--users 20000] [--rate 5000] [--set queue.concurrency=64 …]
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pushWorkersOf } from '../src/app.js';
import { configSchema } from '../src/config/schema.js';
import { startPrivateRedis } from '../src/demo/redis-server.js';
import { createJimsClient } from '../src/jims/client.js';
import { silentLogger } from '../src/log.js';
import { createMetrics } from '../src/ops/metrics.js';
import { connectRedis, createRedisConnection } from '../src/redis/connection.js';
import { shardsOf } from '../src/redis/shards.js';
import { createOutboxRelay } from '../src/queue/relay.js';
import { createSessionEngine } from '../src/sessions/engine.js';
import { systemClock, type VpnEvent } from '../src/types.js';
import { configOverrides, numberFlag } from './lib.js';

const USERS = numberFlag('users', 20_000);
const RATE = numberFlag('rate', 5000);
/** Give up when the simulator gains no identity for this long. */
const STALL_MS = 30_000;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const merge = (a: Obj, b: Obj): Obj => {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isObj(v) && isObj(out[k]) ? merge(out[k] as Obj, v) : v;
  return out;
};

// The simulator, in its own process.
const clientId = 'bench';
const clientSecret = randomBytes(12).toString('hex');
const overrides = configOverrides();
const simChild = fork(fileURLToPath(new URL('./sim-process.ts', import.meta.url)), [], {
  execArgv: ['--import', 'tsx'],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const ask = <T>(msg: object, answer: string) =>
  new Promise<T>((resolve) => {
    const on = (m: unknown) => {
      if ((m as { type: string }).type !== answer) return;
      simChild.off('message', on);
      resolve(m as T);
    };
    simChild.on('message', on);
    simChild.send(msg);
  });
const pushOverrides = ((overrides.jims as Obj | undefined)?.push ?? {}) as Obj;
const { port: simPort } = await ask<{ port: number }>(
  { type: 'start', clientId, clientSecret, push: pushOverrides },
  'listening',
);

const redisServer = await startPrivateRedis({ appendonly: true });
process.once('exit', () => {
  void redisServer.kill();
  rmSync(redisServer.dir, { recursive: true, force: true });
});
const config = configSchema.parse(
  merge(
    {
      redis: { url: redisServer.url },
      // The storm must not overflow the engine's buffer: a dropped event would never arrive.
      sessions: { bufferMaxEvents: Math.max(USERS, 10_000) },
      jims: { primary: { host: '127.0.0.1', port: simPort, scheme: 'http', clientId, clientSecret } },
    },
    overrides,
  ),
);
const metrics = createMetrics();
const logger = silentLogger;
const clock = systemClock;
const conn = (role: 'producer' | 'worker') => createRedisConnection(redisServer.url, role, { connectTimeoutSecs: 5 });
const engineRedis = conn('producer');
const relayRedis = conn('producer');
const workerRedis = conn('worker');
const info = conn('producer');
for (const r of [engineRedis, relayRedis, workerRedis, info]) await connectRedis(r, redisServer.url, 5);
const keyPrefix = config.redis.keyPrefix;
const engine = createSessionEngine({ redis: engineRedis, cfg: config.sessions, keyPrefix, metrics, logger, clock });
const relay = createOutboxRelay({
  redis: relayRedis,
  queue: config.queue,
  keyPrefix,
  metrics,
  logger,
  consumerName: 'bench',
  clock,
});
const jims = createJimsClient(config.jims, { metrics, logger, clock });
// The bridge's own push workers, on the one keyspace the engine and relay above use.
const workers = pushWorkersOf(config, { metrics, logger, clock }, shardsOf(keyPrefix), {
  connection: workerRedis,
  pusher: jims,
});
await relay.start();
workers.run();
await workers.waitUntilReady();

const redisCpu = async () => {
  const text = await info.info('cpu');
  const f = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(text)?.[1] ?? NaN);
  return (f('used_cpu_user') + f('used_cpu_sys')) * 1000;
};
const commandStats = async () => {
  const text = await info.info('commandstats');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
};

const ipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const event = (i: number, now: number): VpnEvent => ({
  kind: 'up',
  user: `user${i}`,
  domain: 'example.com',
  ips: [ipOf(i + 1)],
  firewall: 'srx-bench',
  vpn: 'ra-vpn',
  tunnelId: String(131072 + i),
  patternId: 'bench',
  receivedAt: now,
});

console.log(
  `per-event: ${USERS} users connect at ${RATE}/s; concurrency ${config.queue.concurrency}; overrides ${JSON.stringify(overrides)}`,
);
const stats0 = await commandStats();
const redis0 = await redisCpu();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let sent = 0;
let logons = 0;
let requests = 0;
let progressAt = t0;
while (logons < USERS) {
  const now = performance.now();
  if (now - progressAt > STALL_MS) {
    const dropped = (await metrics.bufferDropped.get()).values[0]?.value ?? 0;
    throw new Error(`no progress for ${STALL_MS / 1000} s with ${logons}/${USERS} identities (${dropped} dropped by the engine)`);
  }
  const due = Math.min(USERS, Math.floor(((now - t0) * RATE) / 1000) + 1);
  for (; sent < due; sent++) engine.submit(event(sent, Date.now()), `c${sent}`);
  await new Promise((r) => setTimeout(r, sent < USERS ? 5 : 50));
  if (sent === USERS || sent % 1000 < 50) {
    const c = (await ask<{ counters: { logons: number; pushRequests: number } }>({ type: 'count' }, 'count')).counters;
    if (c.logons > logons) progressAt = performance.now();
    logons = c.logons;
    requests = c.pushRequests;
  }
}
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const redisMs = (await redisCpu()) - redis0;
const stats1 = await commandStats();

const bridgeMs = (cpu.user + cpu.system) / 1000;
const perCmd = [...stats1]
  .map(([name, calls]) => [name, (calls - (stats0.get(name) ?? 0)) / USERS] as const)
  .filter(([name, v]) => v >= 0.01 && name !== 'info')
  .sort((a, b) => b[1] - a[1]);
const total = perCmd.reduce((s, [, v]) => s + v, 0);
console.log(
  `${USERS} events in ${(wallMs / 1000).toFixed(1)} s: bridge ${(bridgeMs / USERS).toFixed(3)} ms CPU/event,` +
    ` redis ${(redisMs / USERS).toFixed(3)} ms CPU/event; ${(USERS / requests).toFixed(1)} entries per push request`,
);
console.log(`redis commands per event: ${total.toFixed(1)} (${perCmd.map(([n, v]) => `${n} ${v.toFixed(2)}`).join(', ')})`);

await relay.stop();
await workers.close();
await jims.close();
await engine.close();
for (const r of [engineRedis, relayRedis, workerRedis, info]) r.disconnect();
await ask({ type: 'stop' }, 'stopped');
simChild.disconnect();
await redisServer.stop();
