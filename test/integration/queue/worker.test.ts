import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { defaultConfig, type QueueConfig } from '../../../src/config/schema.js';
import { createMetrics, type Metrics } from '../../../src/ops/metrics.js';
import { seededRandom } from '../../../src/queue/backoff.js';
import { BATCH_JOB, batchJobOptions, createPushQueue, pushJobOptions, type PushQueue } from '../../../src/queue/jobs.js';
import { createOrderingGuard } from '../../../src/queue/ordering.js';
import { createPushWorkers, type PushWorkers } from '../../../src/queue/worker.js';
import { ipKey } from '../../../src/redis/keys.js';
import type { IdentityEvent, PushOutcome } from '../../../src/types.js';
import { delivered, identityEvent, ScriptedPusher, waitFor, type Script } from './helpers.js';
import { useRedisConnections } from './connections.js';

const db = useRedisConnections('producer', 'worker');

let n = 0;
let prefix: string;
let metrics: Metrics;
let queue: PushQueue;
const running: PushWorkers[] = [];

const T0 = 1_700_000_000_000;
const baseCfg: QueueConfig = {
  ...defaultConfig().queue,
  concurrency: 8,
  retryBaseDelaySecs: 0.01,
  retryMaxDelaySecs: 0.05,
  maxEventAgeSecs: 3600,
};

function clockAt(ms: number) {
  const c = { t: ms, now: () => c.t };
  return c;
}

function workers(
  pusher: ScriptedPusher,
  opts: { cfg?: Partial<QueueConfig>; clock?: { now(): number }; seed?: number; missingPredecessorWaitMs?: number } = {},
) {
  const w = createPushWorkers({
    connection: db.worker,
    queue: { ...baseCfg, ...opts.cfg },
    keyPrefix: prefix,
    pusher,
    metrics,
    clock: opts.clock ?? clockAt(T0 + 1000),
    random: seededRandom(opts.seed ?? 1),
    lockRetryDelayMs: 5,
    // Most tests add single events with arbitrary seqs; the wait for a missing predecessor has its own test.
    missingPredecessorWaitMs: opts.missingPredecessorWaitMs ?? 0,
  });
  running.push(w);
  return w;
}

async function add(ev: IdentityEvent, cfg: Partial<QueueConfig> = {}) {
  return queue.add(ev.kind, ev, pushJobOptions({ ...baseCfg, ...cfg }, ipKey(ev.ip), ev.seq));
}

const stateOf = async (id: string) => queue.getJobState(id);
const waitState = (id: string, state: string) => waitFor(async () => (await stateOf(id)) === state, `${id} ${state}`);
const pushes = async (outcome: string) =>
  (await metrics.pushes.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
const retry = (retryAfterMs?: number): PushOutcome => ({ result: 'retry', reason: 'HTTP 503', retryAfterMs, server: 'jims-a' });

beforeEach(() => {
  prefix = `${db.srv.keyPrefix}w${n++}`;
  metrics = createMetrics();
  queue = createPushQueue(db.producer, prefix);
});

afterEach(async () => {
  for (const w of running.splice(0)) await w.close();
  await queue.close();
});

describe('push workers: delivery', () => {
  it('delivers an event, records deliveredSeq and the receipt-to-delivery latency from the injected clock', async () => {
    const pusher = new ScriptedPusher();
    workers(pusher, { clock: clockAt(T0 + 1500) });
    const ev = identityEvent({ ip: '192.0.2.10', seq: 4, receivedAt: T0 });
    await add(ev);
    await waitState('192.0.2.10-4', 'completed');

    expect(pusher.calls.map((c) => c.event)).toEqual([ev]);
    expect(await createOrderingGuard(db.producer, prefix).deliveredSeq('192.0.2.10')).toBe(4);
    expect(await pushes('delivered')).toBe(1);
    const lat = await metrics.eventLatency.get();
    expect(lat.values.find((v) => v.metricName === 'ptim_event_latency_seconds_sum')?.value).toBeCloseTo(1.5);
  });
});

describe('push workers: ordering', () => {
  it('seq 1 is retrying: seq 2 waits for it instead of overtaking it, then both are pushed in order', async () => {
    // Overtaking would supersede seq 1; if seq 1 logs off a previous owner, JIMS would keep that owner.
    const pusher = new ScriptedPusher((ev) => (ev.seq === 1 ? retry(60_000) : delivered()));
    workers(pusher);
    const j1 = await add(identityEvent({ ip: '192.0.2.20', seq: 1 }));
    await waitFor(async () => (await j1.getState()) === 'delayed', 'seq 1 waiting for its retry');
    await add(identityEvent({ ip: '192.0.2.20', seq: 2, kind: 'disconnect' }));
    await waitFor(async () => (await stateOf('192.0.2.20-2')) === 'delayed', 'seq 2 waiting behind seq 1');
    expect(pusher.seqsFor('192.0.2.20')).toEqual([1]);

    pusher.setScript(() => delivered());
    await j1.promote(); // its retry is due now
    await waitState('192.0.2.20-2', 'completed');
    expect(pusher.seqsFor('192.0.2.20')).toEqual([1, 1, 2]);
    expect(await pushes('superseded')).toBe(0);
    expect(pusher.violations).toEqual([]);
  });

  it('a job whose predecessor is not relayed yet (a crashed relay) waits for it, then both go in order', async () => {
    const pusher = new ScriptedPusher();
    workers(pusher, { missingPredecessorWaitMs: 60_000 });
    await add(identityEvent({ ip: '192.0.2.22', seq: 2, kind: 'disconnect' }));
    await waitFor(async () => (await stateOf('192.0.2.22-2')) === 'delayed', 'seq 2 waiting for seq 1 to appear');
    expect(pusher.calls).toHaveLength(0);
    await add(identityEvent({ ip: '192.0.2.22', seq: 1 }));
    await waitState('192.0.2.22-2', 'completed');
    expect(pusher.seqsFor('192.0.2.22')).toEqual([1, 2]);
    expect(await pushes('superseded')).toBe(0);
  });

  it('an older event is not pushed after a newer one was attempted, even while the newer one is still retrying', async () => {
    const pusher = new ScriptedPusher((_ev, i) => (i === 0 ? retry(60_000) : delivered()));
    workers(pusher);
    const j2 = await add(identityEvent({ ip: '192.0.2.21', seq: 2 }));
    await waitFor(async () => (await j2.getState()) === 'delayed', 'seq 2 waiting for its retry');
    await add(identityEvent({ ip: '192.0.2.21', seq: 1 }));
    await waitState('192.0.2.21-1', 'completed');
    await j2.promote();
    await waitState('192.0.2.21-2', 'completed');
    expect(pusher.seqsFor('192.0.2.21')).toEqual([2, 2]);
    expect(await pushes('superseded')).toBe(1);
  });

  it('a job whose IP is locked waits (delayed, no attempt used, no retry counted) and is pushed after the lock is free', async () => {
    const pusher = new ScriptedPusher();
    const release = pusher.hold(0);
    workers(pusher);
    await add(identityEvent({ ip: '192.0.2.30', seq: 1 }));
    await waitFor(() => pusher.calls.length === 1, 'first push in flight');
    await add(identityEvent({ ip: '192.0.2.30', seq: 2 }));
    await waitFor(async () => (await stateOf('192.0.2.30-2')) === 'delayed', 'seq 2 delayed behind the lock');
    expect((await queue.getJob('192.0.2.30-2'))?.attemptsMade).toBe(0);

    release();
    await waitState('192.0.2.30-2', 'completed');
    expect(pusher.seqsFor('192.0.2.30')).toEqual([1, 2]);
    expect(await pushes('retry')).toBe(0);
    expect(pusher.violations).toEqual([]);
  });

  it('a re-relayed duplicate of a delivered event (its job already removed) completes as superseded', async () => {
    const pusher = new ScriptedPusher();
    workers(pusher);
    const ev = identityEvent({ ip: '198.51.100.3', seq: 3 });
    await add(ev, { keepCompletedJobs: 0 });
    await waitFor(async () => (await pushes('delivered')) === 1, 'first delivery');
    await waitFor(async () => (await queue.getJob('198.51.100.3-3')) === undefined, 'completed job removed');
    await add(ev);
    await waitState('198.51.100.3-3', 'completed');
    expect(pusher.calls).toHaveLength(1);
    expect(await pushes('superseded')).toBe(1);
  });

  it('two replicas with concurrency 8, many events over few IPs: never two pushes for one IP at once, never an older seq after a newer one', async () => {
    const ips = ['192.0.2.41', '192.0.2.42', '198.51.100.43', '2001:db8::44'];
    const perIp = 10;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer(), async (seed, orderSeed) => {
        prefix = `${db.srv.keyPrefix}w${n++}`;
        await queue.close();
        queue = createPushQueue(db.producer, prefix);
        const rnd = seededRandom(seed);
        const script: Script = async () => {
          // Interleave with other pushes without waiting for wall-clock time.
          for (let k = Math.floor(rnd() * 5); k > 0; k--) await new Promise((r) => setImmediate(r));
          return rnd() < 0.3 ? retry() : delivered();
        };
        const pusher = new ScriptedPusher(script);
        workers(pusher, { seed });
        workers(pusher, { seed: seed + 1 });
        const events = ips.flatMap((ip) => Array.from({ length: perIp }, (_, i) => identityEvent({ ip, seq: i + 1 })));
        const order = seededRandom(orderSeed >>> 0);
        events.sort(() => order() - 0.5);
        await queue.addBulk(
          events.map((ev) => ({ name: ev.kind, data: ev, opts: pushJobOptions(baseCfg, ipKey(ev.ip), ev.seq) })),
        );
        await waitFor(async () => (await queue.getCompletedCount()) === events.length, 'all jobs completed', 20_000);

        expect(pusher.violations).toEqual([]);
        const guard = createOrderingGuard(db.producer, prefix);
        for (const ip of ips) expect(await guard.deliveredSeq(ipKey(ip))).toBe(perIp);
        for (const w of running.splice(0)) await w.close();
      }),
      { numRuns: 3 },
    );
  });
});

describe('push workers: retries and failures', () => {
  it('retries a retryable outcome with backoff until it is delivered', async () => {
    const pusher = new ScriptedPusher((_ev, i) => (i < 2 ? retry() : delivered()));
    workers(pusher);
    await add(identityEvent({ ip: '203.0.113.5', seq: 1 }));
    await waitState('203.0.113.5-1', 'completed');
    expect(pusher.calls).toHaveLength(3);
    expect(await pushes('retry')).toBe(2);
    expect(await pushes('delivered')).toBe(1);
    expect(await pushes('permanent')).toBe(0);
  });

  it('waits at least retryAfterMs before the next attempt', async () => {
    const at: number[] = [];
    const pusher = new ScriptedPusher((_ev, i) => {
      at.push(Date.now());
      return i === 0 ? retry(300) : delivered();
    });
    workers(pusher);
    await add(identityEvent({ ip: '203.0.113.6', seq: 1 }));
    await waitState('203.0.113.6-1', 'completed');
    expect(at).toHaveLength(2);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(300);
  });

  it('a permanent outcome fails the job at once with its reason', async () => {
    const pusher = new ScriptedPusher(() => ({
      result: 'permanent',
      reason: 'HTTP 400 bad user',
      status: 400,
      server: 'jims-a',
    }));
    workers(pusher);
    await add(identityEvent({ ip: '203.0.113.7', seq: 1 }));
    await waitState('203.0.113.7-1', 'failed');
    const job = await queue.getJob('203.0.113.7-1');
    expect(job?.failedReason).toContain('HTTP 400 bad user');
    expect(pusher.calls).toHaveLength(1);
    expect(await pushes('permanent')).toBe(1);
  });

  it('keeps retrying while the event is younger than maxEventAgeSecs, then fails it as permanent', async () => {
    const clock = clockAt(T0 + 1000);
    const pusher = new ScriptedPusher((_ev, i) => {
      // After the second attempt the event has aged past the limit.
      if (i === 1) clock.t = T0 + 3600 * 1000 + 1;
      return retry();
    });
    workers(pusher, { clock });
    await add(identityEvent({ ip: '203.0.113.8', seq: 1, receivedAt: T0 }));
    await waitState('203.0.113.8-1', 'failed');
    expect(pusher.calls).toHaveLength(2);
    expect((await queue.getJob('203.0.113.8-1'))?.failedReason).toMatch(/expired.*HTTP 503/);
    expect(await pushes('retry')).toBe(1);
    expect(await pushes('permanent')).toBe(1);
  });

  it('a pusher that throws is treated as retryable, not as a failure', async () => {
    const pusher = new ScriptedPusher((_ev, i) => {
      if (i === 0) throw new Error('socket hang up');
      return delivered();
    });
    workers(pusher);
    await add(identityEvent({ ip: '203.0.113.9', seq: 1 }));
    await waitState('203.0.113.9-1', 'completed');
    expect(await pushes('retry')).toBe(1);
  });

  it('close() lets an in-flight push finish', async () => {
    const pusher = new ScriptedPusher();
    const release = pusher.hold(0);
    const w = workers(pusher);
    await add(identityEvent({ ip: '192.0.2.60', seq: 1 }));
    await waitFor(() => pusher.calls.length === 1, 'push in flight');
    const closing = w.close();
    release();
    await closing;
    expect(await stateOf('192.0.2.60-1')).toBe('completed');
  });
});

describe('push workers: batch jobs (first attempts of many events in one job)', () => {
  async function addBatch(events: IdentityEvent[], id = 'b1') {
    const data = { events: events.map((event) => ({ ipKey: ipKey(event.ip), event })) };
    return queue.add(BATCH_JOB, data, batchJobOptions(baseCfg, `${id}-0`, events.length));
  }

  it('pushes mixed IPs of one batch, an IP twice in order, and completes the batch job', async () => {
    const pusher = new ScriptedPusher();
    workers(pusher);
    const events = [
      identityEvent({ ip: '192.0.2.30', seq: 1 }),
      identityEvent({ ip: '2001:db8::31', seq: 1 }),
      identityEvent({ ip: '192.0.2.30', seq: 2, kind: 'disconnect' }),
      identityEvent({ ip: '192.0.2.32', seq: 1 }),
    ];
    const job = await addBatch(events);
    await waitFor(async () => (await job.getState()) === 'completed', 'batch completed');
    expect(pusher.seqsFor('192.0.2.30')).toEqual([1, 2]);
    expect(pusher.calls).toHaveLength(4);
    expect(await pushes('delivered')).toBe(4);
    expect((await queue.getJob(job.id ?? ''))?.returnvalue).toEqual({
      result: 'batch',
      delivered: 4,
      superseded: 0,
      handedOver: 0,
    });
    expect(await createOrderingGuard(db.producer, prefix).deliveredSeq(ipKey('192.0.2.30'))).toBe(2);
    expect(pusher.violations).toEqual([]);
  });

  it("hands a retry over to its own job, and the IP's later events of the batch behind it, in order", async () => {
    const pusher = new ScriptedPusher((ev, i) => (ev.ip === '192.0.2.40' && i < 2 ? retry() : delivered()));
    workers(pusher);
    const job = await addBatch([
      identityEvent({ ip: '192.0.2.40', seq: 1 }),
      identityEvent({ ip: '192.0.2.41', seq: 1 }),
      identityEvent({ ip: '192.0.2.40', seq: 2, kind: 'disconnect' }),
    ]);
    await waitState('192.0.2.40-2', 'completed');
    expect(await stateOf('192.0.2.40-1')).toBe('completed');
    expect(await job.getState()).toBe('completed');
    expect(pusher.seqsFor('192.0.2.40')).toEqual([1, 1, 2]);
    expect(pusher.seqsFor('192.0.2.41')).toEqual([1]);
    expect(await pushes('retry')).toBe(1);
    expect(pusher.violations).toEqual([]);
  });

  it('a refused event fails in its own job with its reason (the dead letter); the others are delivered', async () => {
    const refused: PushOutcome = { result: 'permanent', reason: 'http:400', status: 400, server: 'jims-a' };
    const pusher = new ScriptedPusher((ev) => (ev.ip === '192.0.2.51' ? refused : delivered()));
    workers(pusher);
    const job = await addBatch([identityEvent({ ip: '192.0.2.50', seq: 1 }), identityEvent({ ip: '192.0.2.51', seq: 3 })]);
    await waitState('192.0.2.51-3', 'failed');
    expect((await queue.getJob('192.0.2.51-3'))?.failedReason).toBe('permanent: http:400');
    await waitFor(async () => (await job.getState()) === 'completed', 'batch completed');
    // Refused once, pushed once: its own job does not push it again.
    expect(pusher.seqsFor('192.0.2.51')).toEqual([3]);
    expect(await pushes('permanent')).toBe(1);
    expect(await pushes('delivered')).toBe(1);

    // The operator retries the dead letter (after fixing JIMS): it is pushed again this time.
    pusher.setScript(() => delivered());
    await (await queue.getJob('192.0.2.51-3'))?.retry('failed');
    await waitState('192.0.2.51-3', 'completed');
    expect(pusher.seqsFor('192.0.2.51')).toEqual([3, 3]);
  });

  it('an event whose IP has an older event still queued waits in its own job, then goes after it', async () => {
    const pusher = new ScriptedPusher((ev, i) => (i === 0 ? retry(60_000) : delivered()));
    workers(pusher);
    const j1 = await add(identityEvent({ ip: '192.0.2.60', seq: 1 }));
    await waitFor(async () => (await j1.getState()) === 'delayed', 'seq 1 waiting for its retry');
    const batch = await addBatch([identityEvent({ ip: '192.0.2.60', seq: 2, kind: 'disconnect' })]);
    await waitFor(async () => (await batch.getState()) === 'completed', 'batch completed');
    // Its own job exists and keeps coming back (a short wait each time) while seq 1 is queued.
    expect(['delayed', 'waiting', 'active']).toContain(await stateOf('192.0.2.60-2'));
    expect(pusher.seqsFor('192.0.2.60')).toEqual([1]);
    await j1.promote();
    await waitState('192.0.2.60-2', 'completed');
    expect(pusher.seqsFor('192.0.2.60')).toEqual([1, 1, 2]);
    expect(pusher.violations).toEqual([]);
  });
});
