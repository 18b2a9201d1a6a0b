// Capacity on Redis Cluster: the keyspace in three shards (`redis.shards: 3`) on a real Cluster of
// 3 masters and 3 replicas, shared by the tests of this file. Events spread over all three masters;
// JIMS's table equals the truth with per-IP order kept; the operator views read every shard; and a
// master SIGKILLed mid-stream is followed with nothing lost.
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueStats } from '../../../src/queue/admin.js';
import { createPushQueue } from '../../../src/queue/jobs.js';
import { ipKey, keyspace } from '../../../src/redis/keys.js';
import { checkRedis } from '../../../src/redis/check.js';
import { shardPrefix, shardsOf, type Shards } from '../../../src/redis/shards.js';
import { searchSessions } from '../../../src/console/search.js';
import { countSessions, listSessions, scanSessions } from '../../../src/sessions/query.js';
import { expectConverged, killMasterMidStream, sendStream, startTopologyBridge, stream, type Ctx } from '../e2e/convergence.js';
import { truthOf, waitFor, type SimHandle } from '../e2e/harness.js';
import { startCluster, type TestCluster } from '../../helpers/redis-ha.js';

describe('Redis Cluster with redis.shards: 3', () => {
  let cluster: TestCluster;
  let client: Cluster;
  let jims: SimHandle;
  const ctx = {} as Ctx;
  const keyPrefix = 'sharded';
  const shards: Shards = shardsOf(keyPrefix, 3);

  beforeAll(async () => {
    cluster = await startCluster();
    client = new Cluster([...cluster.nodes], { lazyConnect: true });
    client.on('error', () => {});
    await client.connect();
    // History on (it is off without console credentials): its writes must go shard by shard.
    jims = await startTopologyBridge(
      ctx,
      keyPrefix,
      { cluster: { nodes: cluster.nodes }, shards: 3 },
      { ops: { console: { history: { maxEntriesPerIp: 12 } } } },
    );
  }, 90_000);
  afterAll(async () => {
    await ctx.bridge?.stop();
    await jims?.sim.close();
    client?.disconnect();
    await cluster?.stop();
  });

  /** Session keys (`…:s:<ip>`) each master holds, by master port. */
  const sessionKeysByMaster = async () => {
    const out = new Map<number, number>();
    for (const node of client.nodes('master')) {
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `{${keyPrefix}-*}:s:*`, 'COUNT', 1000);
        n += keys.length;
        cursor = next;
      } while (cursor !== '0');
      out.set(Number(node.options.port), n);
    }
    return out;
  };

  it('spreads the sessions over the three masters; JIMS equals the truth, per-IP order kept; every view reads every shard', async () => {
    const tagMasters = await Promise.all(shards.prefixes.map((p) => cluster.masterOf(keyspace(p).tag)));
    expect(new Set(tagMasters).size).toBe(3);
    const lines = stream('203.0.113', 24, 80, 21);
    const ips = new Set(lines.map((l) => l.ip));
    expect(new Set([...ips].map((ip) => shards.of(ipKey(ip)))).size).toBe(3);
    await sendStream(ctx, lines);
    await expectConverged(ctx, lines, () => jims.sim.operations(), 30_000);

    const byMaster = await sessionKeysByMaster();
    expect(byMaster.size).toBe(3);
    for (const [port, n] of byMaster) expect(n, `session keys on master ${port}`).toBeGreaterThan(0);

    const up = [...truthOf(lines)].filter(([ip]) => ips.has(ip));
    expect(await countSessions(client, shards)).toBe(up.length);
    expect((await listSessions(client, shards)).map((s) => s.ip).sort()).toEqual(up.map(([ip]) => ip).sort());
    // `sessions --limit 3 --cursor …`: the position token moves from shard to shard.
    const paged: string[] = [];
    let after: string | undefined;
    do {
      let n = 0;
      let next: string | undefined;
      for await (const s of scanSessions(client, shards, { after, batchSize: 4 })) {
        paged.push(s.session.ip);
        next = s.next;
        if (++n === 3) break;
      }
      after = n === 3 ? next : undefined;
    } while (after !== undefined);
    expect(paged.sort()).toEqual(up.map(([ip]) => ip).sort());
    // Console pages run through the shards one after the other.
    const seen: string[] = [];
    let cursor: number | null = 0;
    while (cursor !== null) {
      const page = await searchSessions(client, shards, { cursor, limit: 5 });
      seen.push(...page.sessions.map((s) => s.ip));
      cursor = page.nextCursor;
    }
    expect(seen.sort()).toEqual(up.map(([ip]) => ip).sort());
    const queues = shards.prefixes.map((p) => createPushQueue(client, p));
    try {
      const stats = await queueStats(queues, client, shards);
      expect(stats.failed).toBe(0);
      expect(stats.completed).toBeGreaterThan(0);
    } finally {
      await Promise.all(queues.map((q) => q.close()));
    }
    expect(await ctx.bridge.metric('ptim_sessions_active')).toBe(up.length);
    // The per-IP history is written shard by shard (a pipeline across slots would fail in a Cluster).
    await waitFor(
      async () => (await ctx.bridge.metric('ptim_history_entries_total', { result: 'recorded' })) >= lines.length * 2,
      {
        what: 'history recorded',
      },
    );
    expect(await ctx.bridge.metric('ptim_history_entries_total', { result: 'error' })).toBe(0);
  }, 120_000);

  it('the start-up check sees every shard served, and warns when shards crowd onto one master', async () => {
    const tags = shards.prefixes.map((p) => keyspace(p).tag);
    const spread = await checkRedis(client, { allowEviction: false, keyTags: tags });
    expect(spread.warnings.filter((w) => w.includes('redis.shards'))).toEqual([]);
    // Shard 0 of 6 sits in the first sixth of the slots: on the same master as shard 0 of 3.
    const crowded = await checkRedis(client, {
      allowEviction: false,
      keyTags: [tags[0]!, keyspace(shardPrefix(keyPrefix, 0, 6)).tag],
    });
    expect(crowded.warnings.filter((w) => w.includes('redis.shards'))).toEqual([
      expect.stringContaining('2 shards are served by 1 of 3 masters'),
    ]);
  });

  it("follows a shard's master SIGKILLed mid-stream: table equals truth, nothing out of order, ready again", async () => {
    const lines = stream('198.51.100', 12, 50, 22);
    const tag = keyspace(shards.prefixes[1]!).tag;
    await killMasterMidStream(ctx, lines, [18, 34], cluster, tag, () => jims.sim.operations());
  }, 120_000);
});
