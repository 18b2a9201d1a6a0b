import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/ops/metrics.js';
import { createOutboxRelay, parseOutboxEntry, RELAY_GROUP, type OutboxRelay } from '../../../src/queue/relay.js';
import { BATCH_JOB, createPushQueue, pushJobOptions, type BatchJobData, type PushQueue } from '../../../src/queue/jobs.js';
import { keyspace } from '../../../src/redis/keys.js';
import { identityEvent, waitFor, xaddOutbox } from './helpers.js';
import { useRedisConnections } from './connections.js';

const db = useRedisConnections('producer');

let n = 0;
let prefix: string;
let metrics: Metrics;
let queue: PushQueue;
const relays: OutboxRelay[] = [];

const cfg = { relayBatchSize: 10, keepCompletedJobs: 100 };

function relay(
  consumerName: string,
  extra: { claimIdleMs?: number; blockMs?: number; maxEventsPerJob?: number } = {},
): OutboxRelay {
  const { maxEventsPerJob, ...rest } = extra;
  const queueCfg = maxEventsPerJob === undefined ? cfg : { ...cfg, maxEventsPerJob };
  const r = createOutboxRelay({ redis: db.producer, queue: queueCfg, keyPrefix: prefix, metrics, consumerName, ...rest });
  relays.push(r);
  return r;
}

const relayedCount = async () => (await metrics.relayed.get()).values[0]?.value ?? 0;

beforeEach(() => {
  prefix = `${db.srv.keyPrefix}r${n++}`;
  metrics = createMetrics();
  queue = createPushQueue(db.producer, prefix);
});

afterEach(async () => {
  for (const r of relays.splice(0)) await r.stop();
  await queue.close();
});

describe('outbox relay', () => {
  it('turns outbox entries into jobs with id <ipKey>-<seq> and the event as data, then empties the outbox', async () => {
    const a1 = identityEvent({ ip: '192.0.2.10', seq: 1 });
    const a2 = identityEvent({ ip: '192.0.2.10', seq: 2, kind: 'rekey' });
    const b1 = identityEvent({ ip: '2001:db8::7', seq: 1, user: 'bob' });
    await xaddOutbox(db.producer, prefix, '192.0.2.10', a1);
    await xaddOutbox(db.producer, prefix, '192.0.2.10', a2);
    await xaddOutbox(db.producer, prefix, '2001_db8__7', b1);

    expect(await relay('r1').relayOnce()).toBe(3);

    const j = await queue.getJob('192.0.2.10-2');
    expect(j?.data).toEqual(a2);
    expect(j?.name).toBe('rekey');
    expect((await queue.getJob('2001_db8__7-1'))?.data).toEqual(b1);
    expect(await queue.getJobCounts('waiting')).toMatchObject({ waiting: 3 });
    expect(await db.producer.xlen(keyspace(prefix).outbox)).toBe(0);
    const pending = (await db.producer.xpending(keyspace(prefix).outbox, RELAY_GROUP)) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
    expect(await relayedCount()).toBe(3);
  });

  it('re-relaying an entry whose job was already added (crash before XACK) creates no duplicate', async () => {
    const ev = identityEvent({ ip: '198.51.100.4', seq: 7 });
    const r1 = relay('r1', { claimIdleMs: 0 });
    await r1.relayOnce(); // creates the consumer group
    await xaddOutbox(db.producer, prefix, '198.51.100.4', ev);
    // A relay "dead" reads the entry, adds the job, and dies before acknowledging.
    const read = (await db.producer.xreadgroup(
      'GROUP',
      RELAY_GROUP,
      'dead',
      'COUNT',
      10,
      'STREAMS',
      keyspace(prefix).outbox,
      '>',
    )) as [string, [string, string[]][]][] | null;
    expect(read?.[0]?.[1]).toHaveLength(1);
    await queue.add(ev.kind, ev, pushJobOptions(cfg, '198.51.100.4', 7));

    expect(await r1.relayOnce()).toBe(1); // reclaimed and re-added
    expect(await queue.getJobCounts('waiting', 'delayed', 'completed')).toMatchObject({ waiting: 1, delayed: 0, completed: 0 });
    expect((await queue.getJob('198.51.100.4-7'))?.data).toEqual(ev);
    expect(await db.producer.xlen(keyspace(prefix).outbox)).toBe(0);

    // The same entry written twice (e.g. the engine's script retried) is still one job.
    await xaddOutbox(db.producer, prefix, '198.51.100.4', ev);
    await r1.relayOnce();
    expect(await queue.getJobCounts('waiting')).toMatchObject({ waiting: 1 });
  });

  it("reclaims a dead consumer's pending entries only once they have been idle for claimIdleMs", async () => {
    const ev = identityEvent({ ip: '203.0.113.9', seq: 1 });
    const patient = relay('patient', { claimIdleMs: 60_000 });
    await patient.relayOnce();
    await xaddOutbox(db.producer, prefix, '203.0.113.9', ev);
    await db.producer.xreadgroup('GROUP', RELAY_GROUP, 'dead', 'COUNT', 10, 'STREAMS', keyspace(prefix).outbox, '>');

    expect(await patient.relayOnce()).toBe(0);
    expect(await queue.getJob('203.0.113.9-1')).toBeUndefined();

    expect(await relay('eager', { claimIdleMs: 0 }).relayOnce()).toBe(1);
    expect((await queue.getJob('203.0.113.9-1'))?.data).toEqual(ev);
    expect(await db.producer.xlen(keyspace(prefix).outbox)).toBe(0);
  });

  it('after a restart a consumer relays the entries it had read but not acknowledged', async () => {
    const ev = identityEvent({ ip: '192.0.2.77', seq: 3 });
    await relay('same').relayOnce();
    await xaddOutbox(db.producer, prefix, '192.0.2.77', ev);
    await db.producer.xreadgroup('GROUP', RELAY_GROUP, 'same', 'COUNT', 10, 'STREAMS', keyspace(prefix).outbox, '>');

    expect(await relay('same', { claimIdleMs: 60_000 }).relayOnce()).toBe(1);
    expect((await queue.getJob('192.0.2.77-3'))?.data).toEqual(ev);
  });

  it('counts and drops entries that are not identity events without holding up the valid ones', async () => {
    const ks = keyspace(prefix);
    await db.producer.xadd(ks.outbox, '*', 'ipKey', '192.0.2.1', 'event', '{not json');
    await db.producer.xadd(ks.outbox, '*', 'event', JSON.stringify(identityEvent({ ip: '192.0.2.1', seq: 1 })));
    await db.producer.xadd(ks.outbox, '*', 'ipKey', '192.0.2.1', 'event', JSON.stringify({ ip: '192.0.2.1', seq: -1 }));
    await xaddOutbox(db.producer, prefix, '192.0.2.2', identityEvent({ ip: '192.0.2.2', seq: 1 }));

    expect(await relay('r1').relayOnce()).toBe(1);
    expect((await metrics.relayInvalid.get()).values[0]?.value).toBe(3);
    expect(await queue.getJobCounts('waiting')).toMatchObject({ waiting: 1 });
    expect(await db.producer.xlen(ks.outbox)).toBe(0);
  });

  it('start() relays continuously and stop() returns promptly while blocked on XREADGROUP', async () => {
    const r = relay('loop', { blockMs: 60_000 });
    await r.start();
    await xaddOutbox(db.producer, prefix, '192.0.2.50', identityEvent({ ip: '192.0.2.50', seq: 1 }));
    await waitFor(async () => (await queue.getJob('192.0.2.50-1')) !== undefined, 'job from the running relay');
    await waitFor(async () => (await db.producer.xlen(keyspace(prefix).outbox)) === 0, 'outbox drained');
    const t0 = Date.now();
    await r.stop();
    // Far less than blockMs: stop cut the blocking read instead of waiting it out.
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('stop() right after start() does not wait out a blocking read', async () => {
    const r = relay('quick', { blockMs: 60_000 });
    await r.start();
    const t0 = Date.now();
    await r.stop();
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});

describe('parseOutboxEntry', () => {
  it('accepts the session engine format and rejects anything else', () => {
    const ev = identityEvent({ ip: '192.0.2.1', seq: 1 });
    expect(parseOutboxEntry(['ipKey', '192.0.2.1', 'event', JSON.stringify(ev)])).toEqual({ ipKey: '192.0.2.1', event: ev });
    expect(parseOutboxEntry(['ipKey', '192.0.2.1'])).toBeUndefined();
    expect(parseOutboxEntry(['ipKey', '192.0.2.1', 'event', 'null'])).toBeUndefined();
    expect(parseOutboxEntry(['ipKey', '192.0.2.1', 'event', JSON.stringify({ ...ev, kind: 'logon' })])).toBeUndefined();
    expect(parseOutboxEntry(['ipKey', '192.0.2.1', 'event', JSON.stringify({ ...ev, seq: 1.5 })])).toBeUndefined();
  });

  it('with maxEventsPerJob, puts the events of a read in batch jobs, in outbox order, skipping invalid entries', async () => {
    const events = [
      identityEvent({ ip: '192.0.2.10', seq: 1 }),
      identityEvent({ ip: '2001:db8::7', seq: 1, user: 'bob' }),
      identityEvent({ ip: '192.0.2.10', seq: 2, kind: 'disconnect' }),
    ];
    await xaddOutbox(db.producer, prefix, '192.0.2.10', events[0]!);
    await db.producer.xadd(keyspace(prefix).outbox, '*', 'ipKey', 'x', 'event', 'not json');
    await xaddOutbox(db.producer, prefix, '2001_db8__7', events[1]!);
    await xaddOutbox(db.producer, prefix, '192.0.2.10', events[2]!);

    expect(await relay('r1', { maxEventsPerJob: 2 }).relayOnce()).toBe(3);
    const jobs = await queue.getJobs(['waiting'], 0, 10, true);
    expect(jobs.map((j) => [j.name, (j.data as BatchJobData).events.map((e) => [e.ipKey, e.event.seq])])).toEqual([
      [
        BATCH_JOB,
        [
          ['192.0.2.10', 1],
          ['2001_db8__7', 1],
        ],
      ],
      [BATCH_JOB, [['192.0.2.10', 2]]],
    ]);
    expect(await db.producer.xlen(keyspace(prefix).outbox)).toBe(0);
    expect(await relayedCount()).toBe(3);
    expect((await metrics.relayInvalid.get()).values[0]?.value).toBe(1);
  });
});
