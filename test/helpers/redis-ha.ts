// Real highly available Redis topologies for tests, built from plain `redis-server` processes on
// free loopback ports: Sentinel (1 master, 1 replica, 3 sentinels) and Cluster (3 masters, 3
// replicas). Each waits until the topology is really serving (replication links up, sentinels
// agree, cluster_state ok), so a test never races its own set-up.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startPrivateRedis, waitForRedis, type PrivateRedis } from '../../src/demo/redis-server.js';
import { parseInfo } from '../../src/redis/check.js';
import { waitFor } from './wait.js';

const WAIT = { timeoutMs: 30_000, intervalMs: 50 };

async function withClient<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** Tries `fn` against a node; false (not thrown) while the node is down or not answering. */
const probe = (port: number, fn: (r: Redis) => Promise<boolean>) => withClient(port, fn).catch(() => false);

export const info = async (r: Redis, section: string) => parseInfo(await r.info(section));

export interface SentinelSet {
  readonly name: string;
  readonly sentinels: readonly string[];
  /** Ports of the two data nodes (initially master, replica). */
  readonly dataPorts: readonly number[];
  /** The port of the current master as the sentinels see it. */
  masterPort(): Promise<number>;
  /** `SENTINEL FAILOVER`, resolved once the sentinels name a new master and it takes writes. */
  failover(): Promise<number>;
  stop(): Promise<void>;
}

function spawnSentinel(dir: string, port: number, name: string, masterPort: number): ChildProcess {
  const conf = join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'daemonize no',
      `dir ${dir}`,
      'loglevel warning',
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  return spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
}

export async function startSentinelSet(): Promise<SentinelSet> {
  const name = 'ptim-test';
  const master = await startPrivateRedis({ appendfsync: 'always' });
  const replica = await startPrivateRedis({
    appendfsync: 'always',
    extraArgs: ['--replicaof', '127.0.0.1', String(master.port)],
  });
  const dir = mkdtempSync(join(tmpdir(), 'ptim-sentinel-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const children = ports.map((p) => spawnSentinel(dir, p, name, master.port));
  for (const p of ports) await waitForRedis(`redis://127.0.0.1:${p}`);
  const set: SentinelSet = {
    name,
    sentinels: ports.map((p) => `127.0.0.1:${p}`),
    dataPorts: [master.port, replica.port],
    masterPort: () =>
      withClient(ports[0]!, async (s) => Number(((await s.call('SENTINEL', 'get-master-addr-by-name', name)) as string[])[1])),
    async failover() {
      const before = await set.masterPort();
      await withClient(ports[0]!, (s) => s.call('SENTINEL', 'FAILOVER', name));
      await waitFor(async () => (await set.masterPort()) !== before, { ...WAIT, what: 'sentinels name a new master' });
      const now = await set.masterPort();
      await waitFor(() => probe(now, async (r) => (await info(r, 'replication')).get('role') === 'master'), {
        ...WAIT,
        what: 'the new master takes writes',
      });
      return now;
    },
    async stop() {
      await Promise.all(children.map(async (c) => (c.exitCode === null ? (c.kill('SIGKILL'), once(c, 'exit')) : undefined)));
      await Promise.all([master.stop(), replica.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // Ready when the replica is in sync and every sentinel knows it (else a failover has no candidate).
  await waitFor(() => probe(replica.port, async (r) => (await info(r, 'replication')).get('master_link_status') === 'up'), {
    ...WAIT,
    what: 'replica in sync',
  });
  for (const p of ports)
    await waitFor(
      () =>
        probe(p, async (s) => {
          const replicas = (await s.call('SENTINEL', 'REPLICAS', name)) as string[][];
          const sentinels = (await s.call('SENTINEL', 'SENTINELS', name)) as string[][];
          return replicas.length >= 1 && sentinels.length >= 2;
        }),
      { ...WAIT, what: `sentinel ${p} sees the replica and its peers` },
    );
  return set;
}

export interface TestCluster {
  /** `host:port` of every node (seed list). */
  readonly nodes: readonly string[];
  /** The port of the master that serves `slotKey` now. */
  masterOf(slotKey: string): Promise<number>;
  /** SIGKILL the master of `slotKey`; resolves when its replica was promoted and the cluster is ok. */
  killMasterOf(slotKey: string): Promise<number>;
  /** Start a killed node again (it rejoins as a replica). */
  restart(port: number): Promise<void>;
  stop(): Promise<void>;
}

const clusterArgs = ['--cluster-enabled', 'yes', '--cluster-node-timeout', '1000', '--cluster-replica-validity-factor', '0'];

async function nodeId(port: number): Promise<string> {
  return withClient(port, async (r) => String(await r.cluster('MYID')));
}

/**
 * 3 masters, each with a replica unless `replicas` is false (benches: 3 masters alone); AOF fsync
 * `always` unless told otherwise.
 */
export async function startCluster(opts: { replicas?: boolean; appendfsync?: 'always' | 'everysec' } = {}): Promise<TestCluster> {
  const count = opts.replicas === false ? 3 : 6;
  const servers: PrivateRedis[] = [];
  for (let i = 0; i < count; i++)
    servers.push(await startPrivateRedis({ appendfsync: opts.appendfsync ?? 'always', extraArgs: clusterArgs }));
  const ports = servers.map((s) => s.port);
  const per = Math.floor(16384 / 3);
  for (let m = 0; m < 3; m++) {
    const from = m * per;
    const to = m === 2 ? 16383 : from + per - 1;
    await withClient(ports[m]!, (r) => r.call('CLUSTER', 'ADDSLOTSRANGE', String(from), String(to)));
  }
  for (const p of ports.slice(1)) await withClient(ports[0]!, (r) => r.cluster('MEET', '127.0.0.1', p));
  for (const p of ports)
    await waitFor(
      () =>
        probe(
          p,
          async (r) =>
            String(await r.cluster('NODES'))
              .trim()
              .split('\n').length === count,
        ),
      {
        ...WAIT,
        what: `node ${p} knows all ${count}`,
      },
    );
  for (let i = 0; i + 3 < count; i++) {
    const id = await nodeId(ports[i]!);
    await withClient(ports[i + 3]!, (r) => r.cluster('REPLICATE', id));
  }
  const clusterOk = (p: number) =>
    probe(p, async (r) => parseInfo(String(await r.cluster('INFO'))).get('cluster_state') === 'ok');
  const replicasInSync = async () => {
    for (const p of ports) {
      const ok = await probe(p, async (r) => {
        const rep = await info(r, 'replication');
        return rep.get('role') === 'master' || rep.get('master_link_status') === 'up';
      });
      if (!ok) return false;
    }
    return true;
  };
  for (const p of ports) await waitFor(() => clusterOk(p), { ...WAIT, what: `cluster_state ok on ${p}` });
  await waitFor(replicasInSync, { ...WAIT, what: 'replicas in sync' });

  const byPort = new Map(servers.map((s) => [s.port, s]));
  const cluster: TestCluster = {
    nodes: ports.map((p) => `127.0.0.1:${p}`),
    async masterOf(slotKey) {
      const live = ports.filter((p) => byPort.get(p) !== undefined);
      for (const p of live) {
        const port = await withClient(p, async (r) => {
          const slot = Number(await r.cluster('KEYSLOT', slotKey));
          const ranges = await r.cluster('SLOTS');
          return ranges.find(([a, b]) => slot >= a && slot <= b)?.[2]?.[1];
        }).catch(() => undefined);
        if (port !== undefined) return port;
      }
      throw new Error(`no node answers for ${slotKey}`);
    },
    async killMasterOf(slotKey) {
      const port = await cluster.masterOf(slotKey);
      await byPort.get(port)!.kill();
      const others = ports.filter((p) => p !== port);
      await waitFor(async () => (await cluster.masterOf(slotKey).catch(() => port)) !== port, {
        ...WAIT,
        what: 'a replica is promoted',
      });
      for (const p of others) await waitFor(() => clusterOk(p), { ...WAIT, what: `cluster_state ok on ${p}` });
      return port;
    },
    async restart(port) {
      await byPort.get(port)!.restart();
      await waitFor(() => clusterOk(port), { ...WAIT, what: `restarted node ${port} rejoins` });
    },
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
  return cluster;
}
