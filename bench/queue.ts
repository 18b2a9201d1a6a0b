// Throughput of the delivery path (outbox relay → BullMQ → push workers with the per-IP lock and
// ordering guard) against a private redis-server, with an instant in-process pusher, so the
// figure is the queue's own cost, not JIMS's. Run: node --import tsx bench/queue.ts
// Env: N (events, default 5000), IPS (distinct IPs, default 500; fewer IPs ⇒ more lock contention).
import { defaultConfig } from '../src/config/schema.js';
import { createMetrics } from '../src/ops/metrics.js';
import { connectRedis, createRedisConnection } from '../src/redis/connection.js';
import { createOutboxRelay } from '../src/queue/relay.js';
import { createPushWorkers } from '../src/queue/worker.js';
import { ipKey, keyspace } from '../src/redis/keys.js';
import { startRedis } from '../test/helpers/redis.js';
import { identityEvent, ScriptedPusher, xaddOutbox } from '../test/integration/queue/helpers.js';

const N = Number(process.env.N ?? 5000);
const IPS = Number(process.env.IPS ?? 500);

const srv = await startRedis();
const producer = createRedisConnection(srv.url, 'producer', { connectTimeoutSecs: 5 });
const workerConn = createRedisConnection(srv.url, 'worker', { connectTimeoutSecs: 5 });
await connectRedis(producer, srv.url, 5);
await connectRedis(workerConn, srv.url, 5);
const metrics = createMetrics();
const cfg = defaultConfig().queue;
const prefix = srv.keyPrefix;

// IPs 198.51.100.0-249, scoped into routing contexts s0, s1, … when more are asked for.
const keyOf = (i: number) => ipKey(`198.51.100.${i % 250}`, `s${Math.floor(i / 250)}`);
for (let i = 0; i < N; i++) {
  const key = keyOf(i % IPS);
  await xaddOutbox(producer, prefix, key, identityEvent({ ip: key, seq: Math.floor(i / IPS) + 1 }));
}

const pusher = new ScriptedPusher();
const t0 = Date.now();
const relay = createOutboxRelay({ redis: producer, queue: cfg, keyPrefix: prefix, metrics, consumerName: 'bench' });
const workers = createPushWorkers({
  connection: workerConn,
  queue: cfg,
  keyPrefix: prefix,
  pusher,
  metrics,
  clock: { now: () => Date.now() },
});
await relay.start();
/** Jobs finished for good (a retry is not an end). */
const finished = async () =>
  (await metrics.pushes.get()).values.filter((v) => v.labels.outcome !== 'retry').reduce((sum, v) => sum + v.value, 0);
while ((await finished()) < N) await new Promise((r) => setTimeout(r, 20));
const ms = Date.now() - t0;

const byOutcome = Object.fromEntries((await metrics.pushes.get()).values.map((v) => [v.labels.outcome, v.value]));
console.log(
  `${N} events over ${IPS} IPs, concurrency ${cfg.concurrency}: ${ms} ms, ${Math.round(N / (ms / 1000))} events/s;`,
  `outcomes ${JSON.stringify(byOutcome)}; ordering violations ${pusher.violations.length}; outbox left ${await producer.xlen(keyspace(prefix).outbox)}`,
);
await relay.stop();
await workers.close();
await producer.quit();
await workerConn.quit();
await srv.stop();
