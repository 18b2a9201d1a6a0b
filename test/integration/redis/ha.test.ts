// The bridge on highly available Redis, failed over mid-stream: real Sentinel (1 master, 1 replica,
// 3 sentinels) and real Cluster (3 masters, 3 replicas) processes. After each failover the three
// invariants of the fault tests hold: JIMS's table equals the truth, every identity event is
// delivered or superseded, and no IP ever got an older state after a newer one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PtimError } from '../../../src/errors.js';
import { keyspace } from '../../../src/redis/keys.js';
import {
  expectConverged,
  killMasterMidStream,
  sendStream,
  startTopologyBridge,
  stream,
  topologyPlaceholder,
  type Ctx,
} from '../e2e/convergence.js';
import { e2eConfig, manualClock, startBridge, waitFor, type SimHandle } from '../e2e/harness.js';
import { startCluster, startSentinelSet, type SentinelSet, type TestCluster } from '../../helpers/redis-ha.js';

describe('Redis Sentinel', () => {
  let set: SentinelSet;
  let jims: SimHandle;
  const ctx = {} as Ctx;
  const keyPrefix = 'sentinel';

  beforeAll(async () => {
    set = await startSentinelSet();
    jims = await startTopologyBridge(ctx, keyPrefix, { sentinel: { sentinels: set.sentinels, name: set.name } });
  }, 60_000);
  afterAll(async () => {
    await ctx.bridge?.stop();
    await jims?.sim.close();
    await set?.stop();
  });

  it('follows SENTINEL FAILOVER mid-stream: nothing lost, nothing out of order, ready again', async () => {
    const lines = stream('192.0.2', 6, 40, 11);
    await sendStream(ctx, lines.slice(0, 15));
    const before = await set.masterPort();
    const after = await set.failover();
    expect(after).not.toBe(before);
    await sendStream(ctx, lines.slice(15));
    await expectConverged(ctx, lines, () => jims.sim.operations(), 30_000, { duplicatesCounted: true });
    await waitFor(async () => (await fetch(`${ctx.bridge.opsUrl()}/readyz`)).status === 200, {
      timeoutMs: 15_000,
      what: '/readyz 200 on the new master',
    });
  }, 90_000);
});

describe('Redis Cluster', () => {
  let cluster: TestCluster;
  let jims: SimHandle;
  const ctx = {} as Ctx;
  const keyPrefix = 'cluster';
  const tag = keyspace(keyPrefix).tag;

  beforeAll(async () => {
    cluster = await startCluster();
    jims = await startTopologyBridge(ctx, keyPrefix, { cluster: { nodes: cluster.nodes } });
  }, 90_000);
  afterAll(async () => {
    await ctx.bridge?.stop();
    await jims?.sim.close();
    await cluster?.stop();
  });

  it('a standalone URL at a Cluster node is refused at start (PTIM_ERR_REDIS_CLUSTER), not silently dropped', async () => {
    const port = Number(cluster.nodes[0]!.split(':')[1]);
    const cfg = e2eConfig(topologyPlaceholder(keyPrefix), jims.port, { redis: { url: `redis://127.0.0.1:${port}`, keyPrefix } });
    const err = await startBridge(cfg, manualClock()).then(
      async (b) => (await b.stop(), undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PtimError);
    expect((err as PtimError).code).toBe('PTIM_ERR_REDIS_CLUSTER');
  });

  it('follows a SIGKILLed master mid-stream (replica promoted, old master back as replica): table equals truth', async () => {
    const lines = stream('198.51.100', 6, 40, 12);
    await killMasterMidStream(ctx, lines, [15, 28], cluster, tag, () => jims.sim.operations());
  }, 120_000);
});
