// The failed-job commands and the queue-depth poller over a sharded keyspace (`redis.shards: 3`
// on one Redis, as allowed for tests): failed jobs of every shard are listed newest first, a job
// is retried in whichever shard holds it, a purge empties every shard, and each shard's depth is
// published under its `shard` label.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../../src/config/schema.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { listFailed, purgeFailed, queueStats, retryFailed } from '../../../src/queue/admin.js';
import { createQueueDepthPoller } from '../../../src/queue/depth.js';
import { createPushQueue, pushJobOptions, type PushQueue } from '../../../src/queue/jobs.js';
import { createPushWorkers } from '../../../src/queue/worker.js';
import { ipKey } from '../../../src/redis/keys.js';
import { shardsOf, type Shards } from '../../../src/redis/shards.js';
import { shardedWorkers, type ShardedWorkers } from '../../../src/shards.js';
import { delivered, identityEvent, ScriptedPusher, waitFor, xaddOutbox } from './helpers.js';
import { useRedisConnections } from './connections.js';

const db = useRedisConnections('producer', 'worker');
const cfg = { ...defaultConfig().queue, concurrency: 4, retryBaseDelaySecs: 0.01, retryMaxDelaySecs: 0.05 };

describe('failed jobs and queue depth across shards', () => {
  let shards: Shards;
  let queues: PushQueue[];
  let workers: ShardedWorkers;
  let reject = true;
  const metrics = createMetrics();
  const pusher = new ScriptedPusher(() =>
    reject ? { result: 'permanent', reason: 'HTTP 400 unknown domain', status: 400, server: 'jims-a' } : delivered(),
  );
  /** One IP per shard. */
  const ips: string[] = [];

  beforeAll(async () => {
    shards = shardsOf(`${db.srv.keyPrefix}s`, 3);
    for (let i = 0; ips.length < 3; i++) {
      const ip = `192.0.2.${i}`;
      if (shards.of(ipKey(ip)) === ips.length) ips.push(ip);
    }
    queues = shards.prefixes.map((p) => createPushQueue(db.producer, p));
    workers = shardedWorkers(shards, (keyPrefix) =>
      createPushWorkers({
        connection: db.worker,
        queue: cfg,
        keyPrefix,
        pusher,
        metrics,
        clock: { now: () => Date.now() },
        missingPredecessorWaitMs: 0,
        autorun: false,
      }),
    );
    workers.run();
    await workers.waitUntilReady();
  });
  afterAll(async () => {
    await workers.close();
    await Promise.all(queues.map((q) => q.close()));
  });

  it('lists, retries and purges the failed jobs of every shard', async () => {
    for (const [i, ip] of ips.entries()) {
      await queues[i]!.add('connect', identityEvent({ ip, seq: 1 }), pushJobOptions(cfg, ipKey(ip), 1));
      await waitFor(async () => (await queues[i]!.getJobState(`${ipKey(ip)}-1`)) === 'failed', `${ip} failed`);
    }
    const rows = await listFailed(queues, { limit: 10 });
    expect(rows.map((r) => r.ip).sort()).toEqual([...ips].sort());
    const when = rows.map((r) => r.finishedOn ?? 0);
    expect(when).toEqual([...when].sort((a, b) => b - a));
    expect(await listFailed(queues, { limit: 2 })).toHaveLength(2);
    expect((await queueStats(queues, db.producer, shards)).failed).toBe(3);

    reject = false;
    const id = `${ipKey(ips[2]!)}-1`;
    expect(await retryFailed(queues, { jobIds: [id, 'nope-1'] })).toEqual({
      retried: [id],
      skipped: [{ jobId: 'nope-1', reason: 'not found' }],
    });
    await waitFor(async () => (await queues[2]!.getJobState(id)) === 'completed', 'retried job completed');
    expect((await purgeFailed(queues)).sort()).toEqual([`${ipKey(ips[0]!)}-1`, `${ipKey(ips[1]!)}-1`].sort());
    expect((await queueStats(queues, db.producer, shards)).failed).toBe(0);
  });

  it("publishes each shard's depth under its shard label", async () => {
    await xaddOutbox(db.producer, shards.prefixes[1]!, ipKey(ips[1]!), identityEvent({ ip: ips[1]!, seq: 2 }));
    await xaddOutbox(db.producer, shards.prefixes[2]!, ipKey(ips[2]!), identityEvent({ ip: ips[2]!, seq: 2 }));
    await xaddOutbox(db.producer, shards.prefixes[2]!, ipKey(ips[2]!), identityEvent({ ip: ips[2]!, seq: 3 }));
    const total = await createQueueDepthPoller({ queue: queues, redis: db.producer, keyPrefix: shards, metrics }).pollOnce();
    expect(total.outbox).toBe(3);
    const outbox = (await metrics.queueDepth.get()).values.filter((v) => v.labels.state === 'outbox');
    expect(Object.fromEntries(outbox.map((v) => [v.labels.shard, v.value]))).toEqual({ 0: 0, 1: 1, 2: 2 });
  });
});
