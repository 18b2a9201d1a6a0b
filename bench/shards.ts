// Capacity on Redis Cluster: the same stream of VPN events through the session engine, outbox
// relay and push workers, with the console's per-IP history as shipped (an instant in-process
// pusher, so JIMS costs nothing), on a real local
// Cluster of 3 masters, once with redis.shards 1 and once with 3, in one run. Prints how the
// events spread over the masters and each master's Redis CPU per event (INFO cpu user + sys
// deltas / events applied there), and the bridge process's own CPU per event.
// Run: npm run bench:shards   Env: N (events, default 30000), IPS (distinct IPs, default 6000).
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { defaultConfig, historySettings } from '../src/config/schema.js';
import { createHistoryTap } from '../src/history/tap.js';
import { silentLogger } from '../src/log.js';
import { createMetrics, type Metrics } from '../src/ops/metrics.js';
import { createOutboxRelay } from '../src/queue/relay.js';
import { createPushWorkers } from '../src/queue/worker.js';
import { parseInfo } from '../src/redis/check.js';
import { connectRedis, createRedisClient, type RedisClient, type RedisTarget } from '../src/redis/connection.js';
import { ipKey, keyspace } from '../src/redis/keys.js';
import { shardsOf, slotOf, type Shards } from '../src/redis/shards.js';
import { createSessionEngine } from '../src/sessions/engine.js';
import { ActiveSessions, shardedEngine, shardedRelay, shardedWorkers, shardQueueConfig } from '../src/shards.js';
import { systemClock, type VpnEvent } from '../src/types.js';
import { startCluster } from '../test/helpers/redis-ha.js';
import { ScriptedPusher } from '../test/integration/queue/helpers.js';

const N = Number(process.env.N ?? 30_000);
const IPS = Number(process.env.IPS ?? 6000);
const cfg = defaultConfig();

/** UP and DOWN in turn for each IP: every event changes the IP's state, so each is one identity push. */
function events(base: number): VpnEvent[] {
  const out: VpnEvent[] = [];
  for (let i = 0; i < N; i++) {
    const n = i % IPS;
    const round = Math.floor(i / IPS);
    out.push({
      kind: round % 2 === 0 ? 'up' : 'down',
      ips: [`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`],
      user: `user${n % 97}`,
      domain: 'example.com',
      firewall: 'fw1',
      patternId: 'bench',
      receivedAt: base + i,
    });
  }
  return out;
}

/** used_cpu_user + used_cpu_sys of a node, ms. */
const cpuMs = async (node: Redis) => {
  const m = parseInfo(await node.info('cpu'));
  return (Number(m.get('used_cpu_user')) + Number(m.get('used_cpu_sys'))) * 1000;
};

/** The port of the master serving a hash tag's slot. */
async function masterPortOf(client: RedisClient, tag: string): Promise<number> {
  const slot = slotOf(tag);
  const ranges = await (client as unknown as Redis).cluster('SLOTS');
  return Number(ranges.find(([a, b]) => slot >= a && slot <= b)?.[2]?.[1]);
}

const finished = async (metrics: Metrics) =>
  (await metrics.pushes.get()).values.filter((v) => v.labels.outcome !== 'retry').reduce((s, v) => s + v.value, 0);
const emitted = async (metrics: Metrics) => (await metrics.identityEvents.get()).values.reduce((s, v) => s + v.value, 0);

/** One pass of the stream through a keyspace of `count` shards; prints its table. */
async function pass(target: RedisTarget, count: number): Promise<void> {
  const shards: Shards = shardsOf(`bench${count}`, count);
  const opts = { connectTimeoutSecs: 5 };
  const producer = createRedisClient(target, 'producer', opts);
  const workerConn = createRedisClient(target, 'worker', opts);
  await connectRedis(producer, target.display, 5);
  await connectRedis(workerConn, target.display, 5);
  const masters = (producer as unknown as { nodes(role: 'master'): Redis[] }).nodes('master');
  const metrics = createMetrics();
  const pusher = new ScriptedPusher();
  const deps = { metrics, logger: silentLogger, clock: systemClock };
  const history = createHistoryTap({ redis: producer, keyPrefix: shards, cfg: historySettings(cfg.ops.console), ...deps });
  history.start();
  const engine = shardedEngine(
    shards,
    '',
    (keyPrefix, activeSessions) =>
      createSessionEngine({ redis: producer, cfg: cfg.sessions, keyPrefix, activeSessions, ...deps }),
    new ActiveSessions(metrics, shards),
  );
  const relay = shardedRelay(shards, (keyPrefix) =>
    createOutboxRelay({ redis: producer, queue: cfg.queue, keyPrefix, consumerName: 'bench', ...deps }),
  );
  const queue = shardQueueConfig(cfg.queue, shards);
  const workers = shardedWorkers(shards, (keyPrefix) =>
    createPushWorkers({ connection: workerConn, queue, keyPrefix, pusher, autorun: false, onOutcome: history.pushed, ...deps }),
  );
  await relay.start();
  workers.run();
  await workers.waitUntilReady();

  const stream = events(Date.now());
  const perShard = shards.prefixes.map(() => 0);
  for (const e of stream) perShard[shards.of(ipKey(e.ips[0]!))]!++;
  const before = await Promise.all(masters.map(cpuMs));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < stream.length; i += 1000) {
    for (const [j, e] of stream.slice(i, i + 1000).entries()) {
      engine.submit(e, `b${i + j}`);
      history.line(e, `b${i + j}`);
    }
    await engine.drain();
  }
  const applied = performance.now() - t0;
  const want = await emitted(metrics);
  while ((await finished(metrics)) < want) await new Promise((r) => setTimeout(r, 20));
  await history.recorder.flush();
  const total = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = await Promise.all(masters.map(cpuMs));

  const tagPorts = await Promise.all(shards.prefixes.map((p) => masterPortOf(producer, keyspace(p).tag)));
  console.log(
    `\nredis.shards ${count}: ${N} events over ${IPS} IPs, ${want} pushes; applied in ${(applied / 1000).toFixed(1)} s ` +
      `(${Math.round(N / (applied / 1000))} events/s), pushed in ${(total / 1000).toFixed(1)} s (${Math.round(N / (total / 1000))} events/s); ` +
      `bridge process CPU ${((cpu.user + cpu.system) / N).toFixed(0)} µs/event`,
  );
  console.log('master  shards  events  share  redis CPU ms  µs/event');
  masters.forEach((node, m) => {
    const port = Number(node.options.port);
    const mine = tagPorts.flatMap((p, s) => (p === port ? [s] : []));
    const ev = mine.reduce((s, i) => s + perShard[i]!, 0);
    const ms = after[m]! - before[m]!;
    console.log(
      `${String(port).padEnd(7)} ${(mine.join(',') || '-').padEnd(7)} ${String(ev).padStart(6)}  ${((100 * ev) / N).toFixed(0).padStart(4)}%  ` +
        `${ms.toFixed(0).padStart(12)}  ${ev ? ((ms * 1000) / ev).toFixed(0).padStart(8) : '       -'}`,
    );
  });
  const sum = after.reduce((s, a, m) => s + a - before[m]!, 0);
  console.log(
    `all     ${' '.repeat(7)} ${String(N).padStart(6)}  100%  ${sum.toFixed(0).padStart(12)}  ${((sum * 1000) / N).toFixed(0).padStart(8)}`,
  );

  await relay.stop();
  await workers.close();
  await history.stop();
  await engine.close();
  producer.disconnect();
  workerConn.disconnect();
}

const cluster = await startCluster({ replicas: false, appendfsync: 'everysec' });
try {
  const target: RedisTarget = {
    mode: 'cluster',
    display: `cluster ${cluster.nodes.join(',')}`,
    node: {},
    clusterNodes: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })),
  };
  for (const count of [1, 3]) await pass(target, count);
} finally {
  await cluster.stop();
}
