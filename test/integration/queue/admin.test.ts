import { beforeEach, describe, expect, it, afterEach } from 'vitest';
import { defaultConfig } from '../../../src/config/schema.js';
import { createMetrics, type Metrics } from '../../../src/ops/metrics.js';
import { listFailed, purgeFailed, queueStats, retryFailed } from '../../../src/queue/admin.js';
import { createQueueDepthPoller } from '../../../src/queue/depth.js';
import { createPushQueue, pushJobOptions, type PushQueue } from '../../../src/queue/jobs.js';
import { createPushWorkers, type PushWorkers } from '../../../src/queue/worker.js';
import { ipKey } from '../../../src/redis/keys.js';
import type { IdentityEvent } from '../../../src/types.js';
import { delivered, identityEvent, ScriptedPusher, waitFor, xaddOutbox } from './helpers.js';
import { useRedisConnections } from './connections.js';

const db = useRedisConnections('producer', 'worker');

let n = 0;
let prefix: string;
let metrics: Metrics;
let queue: PushQueue;
let pusher: ScriptedPusher;
let w: PushWorkers;
let reject = true;

const cfg = { ...defaultConfig().queue, concurrency: 4, retryBaseDelaySecs: 0.01, retryMaxDelaySecs: 0.05 };

async function addAndFail(ev: IdentityEvent) {
  await queue.add(ev.kind, ev, pushJobOptions(cfg, ipKey(ev.ip), ev.seq));
  await waitFor(async () => (await queue.getJobState(`${ipKey(ev.ip)}-${ev.seq}`)) === 'failed', `${ev.ip} failed`);
}

beforeEach(async () => {
  prefix = `${db.srv.keyPrefix}a${n++}`;
  metrics = createMetrics();
  queue = createPushQueue(db.producer, prefix);
  reject = true;
  pusher = new ScriptedPusher(() =>
    reject ? { result: 'permanent', reason: 'HTTP 400 unknown domain', status: 400, server: 'jims-a' } : delivered(),
  );
  // Events here are added alone with arbitrary seqs: do not wait for predecessors that never come.
  w = createPushWorkers({
    connection: db.worker,
    queue: cfg,
    keyPrefix: prefix,
    pusher,
    metrics,
    clock: { now: () => Date.now() },
    missingPredecessorWaitMs: 0,
  });
});

afterEach(async () => {
  await w.close();
  await queue.close();
});

describe('admin queries', () => {
  it('lists failed jobs with their event fields and reason', async () => {
    await addAndFail(identityEvent({ ip: '192.0.2.5', seq: 2, user: 'carol', kind: 'rekey' }));
    const rows = await listFailed(queue, { limit: 10 });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      jobId: '192.0.2.5-2',
      ip: '192.0.2.5',
      user: 'carol',
      kind: 'rekey',
      seq: 2,
      attemptsMade: 1,
    });
    expect(rows[0]?.failedReason).toContain('HTTP 400 unknown domain');
    expect(rows[0]?.timestamp).toBeGreaterThan(0);
    expect(await listFailed(queue, { limit: 0 })).toEqual([]);
  });

  it('retries chosen failed jobs (skipping unknown ids) or all of them', async () => {
    await addAndFail(identityEvent({ ip: '192.0.2.6', seq: 1 }));
    await addAndFail(identityEvent({ ip: '192.0.2.7', seq: 1 }));
    await addAndFail(identityEvent({ ip: '192.0.2.8', seq: 1 }));
    reject = false;

    const r = await retryFailed(queue, { jobIds: ['192.0.2.6-1', '192.0.2.99-1'] });
    expect(r.retried).toEqual(['192.0.2.6-1']);
    expect(r.skipped).toEqual([{ jobId: '192.0.2.99-1', reason: 'not found' }]);
    await waitFor(async () => (await queue.getJobState('192.0.2.6-1')) === 'completed', 'retried job delivered');
    expect(await queue.getFailedCount()).toBe(2);

    const all = await retryFailed(queue, { all: true });
    expect(all.total).toBe(2);
    await waitFor(async () => (await queue.getCompletedCount()) === 3, 'all delivered');
    expect(await queue.getFailedCount()).toBe(0);
  });

  it('purges failed jobs older than a limit, or all', async () => {
    await addAndFail(identityEvent({ ip: '198.51.100.1', seq: 1 }));
    await addAndFail(identityEvent({ ip: '198.51.100.2', seq: 1 }));
    expect(await purgeFailed(queue, { olderThanSecs: 3600 })).toEqual([]);
    expect((await purgeFailed(queue)).sort()).toEqual(['198.51.100.1-1', '198.51.100.2-1']);
    expect(await queue.getFailedCount()).toBe(0);
  });

  it('reports counts per state plus the outbox length, and the poller publishes them as gauges', async () => {
    await addAndFail(identityEvent({ ip: '203.0.113.1', seq: 1 }));
    await w.pause();
    await queue.add('connect', identityEvent({ ip: '203.0.113.2', seq: 1 }), pushJobOptions(cfg, '203.0.113.2', 1));
    await xaddOutbox(db.producer, prefix, '203.0.113.3', identityEvent({ ip: '203.0.113.3', seq: 1 }));

    const s = await queueStats(queue, db.producer, prefix);
    expect(s).toMatchObject({ failed: 1, outbox: 1, active: 0, completed: 0 });
    expect(s.waiting + s.paused).toBe(1);

    // The waiting job's event was received at 1_700_000_000_000; the outbox entry now (its stream id).
    const clock = { now: () => 1_700_000_090_000 };
    await createQueueDepthPoller({ queue, redis: db.producer, keyPrefix: prefix, metrics, clock }).pollOnce();
    const g = (await metrics.queueDepth.get()).values;
    const v = (state: string) => g.find((x) => x.labels.state === state)?.value;
    expect([v('failed'), v('outbox'), v('waiting'), v('active')]).toEqual([1, 1, 1, 0]);
    expect((await metrics.oldestQueuedAge.get()).values[0]?.value).toBe(90);
  });
});
