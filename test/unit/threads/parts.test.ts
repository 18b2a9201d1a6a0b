// The threading model's parts that need no thread: the bounded hand-off and its batches, the
// heartbeat watchdog's decision, the clock mapping of receive times, the quarantine record's
// line shape, and the kernel-drops reader's parsing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dropsDelta, parseProcNetUdp } from '../../../src/ingest/kernel-drops.js';
import type { Channel, Message } from '../../../src/threads/channel.js';
import {
  coalesceAcks,
  createHandoff,
  packBatch,
  unpackBatch,
  type BatchOrder,
  type WireBatch,
} from '../../../src/threads/handoff.js';
import { createHeartbeat, createWatchdog } from '../../../src/threads/heartbeat.js';
import { createDeliveryGate, createMatchGate, toClock } from '../../../src/threads/ingest.js';
import { createPendingBatches } from '../../../src/threads/matcher.js';
import { withLocalCounters } from '../../../src/threads/local-counters.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import {
  createQuarantineBook,
  createQuarantineStore,
  describeQuarantine,
  lineShape,
  patternKey,
} from '../../../src/threads/quarantine.js';
import { createEvents } from '../../../src/events.js';
import { silentLogger } from '../../../src/log.js';
import { Redis } from 'ioredis';
import { waitFor } from '../../helpers/wait.js';
import type { RawMessage, VpnEvent } from '../../../src/types.js';

const raw = (text: string, receivedAt = 1000): RawMessage => ({
  bytes: Buffer.from(text),
  transport: 'udp',
  sourceIp: '192.0.2.1',
  sourcePort: 514,
  receivedAt,
  truncated: false,
});

/** Any line a receiver can frame: any bytes, any source and firewall name, every transport. */
const anyRaw: fc.Arbitrary<RawMessage> = fc
  .record({
    bytes: fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
    transport: fc.constantFrom('udp' as const, 'tcp' as const, 'tls' as const),
    sourceIp: fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('192.0.2.1', '2001:db8::1')),
    sourcePort: fc.integer({ min: 0, max: 65_535 }),
    receivedAt: fc.oneof(fc.double(), fc.integer({ min: 0, max: 4_102_444_800_000 })),
    truncated: fc.boolean(),
    firewall: fc.option(fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('fw1', 'édge-fw-🔥')), { nil: undefined }),
  })
  .map(({ firewall, ...r }) => (firewall === undefined ? r : { ...r, firewall }));

describe('hand-off batches', () => {
  it('pack and unpack keep every line and its metadata', () => {
    const lines = [raw('one'), { ...raw('two', 2000), firewall: 'fw1' }, raw('')];
    const back = unpackBatch(packBatch(7, lines));
    expect(back.map((r) => r.bytes.toString())).toEqual(['one', 'two', '']);
    expect(back[1]).toMatchObject({ receivedAt: 2000, firewall: 'fw1', transport: 'udp', sourcePort: 514 });
    expect(back[0]!.firewall).toBeUndefined();
    expect('firewall' in back[0]!).toBe(false);
  });

  it('unpack gives back exactly the packed lines, whatever they hold (property)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.array(anyRaw, { maxLength: 40 }), fc.array(fc.nat(5)), (seq, raws, repeats) => {
        // Lines of one batch often share their source: some lines again, with other bytes.
        const lines = [...raws, ...repeats.flatMap((i) => (raws[i] ? [{ ...raws[i], bytes: Buffer.from([i]) }] : []))];
        const batch = packBatch(seq, lines);
        expect(batch.seq).toBe(seq);
        expect(batch.count).toBe(lines.length);
        expect(unpackBatch(batch)).toEqual(lines);
      }),
      { numRuns: 300 },
    );
  });

  it('is one shared buffer: metadata and strings once per batch, so relaying it copies nothing', () => {
    const lines = Array.from({ length: 256 }, (_, i) => ({ ...raw('x'.repeat(300), i), firewall: 'fw1' }));
    const batch = packBatch(1, lines);
    expect(batch.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Object.keys(batch).sort()).toEqual(['buffer', 'count', 'seq']);
    // 300 bytes per line, 28 of metadata, the two strings once.
    expect(batch.buffer.byteLength).toBe(256 * (300 + 28) + 4 * 3 + 2 * ('192.0.2.1'.length + 'fw1'.length));
  });

  it('batches at batchLines or at the end of the turn, and refuses past maxLines until acked', () => {
    const sent: WireBatch[] = [];
    const turns: (() => void)[] = [];
    const h = createHandoff({ maxLines: 5, batchLines: 3, post: (b) => sent.push(b), schedule: (f) => turns.push(f) });
    for (const t of ['a', 'b', 'c', 'd']) expect(h.offer(raw(t))).toBe(true);
    expect(sent.map((b) => b.count)).toEqual([3]);
    turns.shift()!();
    expect(sent.map((b) => [b.seq, b.count])).toEqual([
      [1, 3],
      [2, 1],
    ]);
    expect(h.offer(raw('e'))).toBe(true);
    expect(h.offer(raw('f'))).toBe(false);
    expect(h.depth()).toBe(5);
    h.ack(3);
    expect(h.offer(raw('f'))).toBe(true);
    expect(h.flush()).toBe(3);
  });
});

describe('acknowledgements', () => {
  it('go out as one message per turn carrying the turn’s lines, and nothing is lost or counted twice', () => {
    const posted: number[] = [];
    const turns: (() => void)[] = [];
    const ack = coalesceAcks(
      (lines) => posted.push(lines),
      (f) => turns.push(f),
    );
    ack(3);
    ack(256);
    expect(posted).toEqual([]);
    expect(turns).toHaveLength(1);
    turns.shift()!();
    ack(1);
    turns.shift()!();
    expect(posted).toEqual([259, 1]);
    expect(turns).toEqual([]);
  });

  it('keep the hand-off within its bound: a line is refused until the turn’s acks arrive', () => {
    const sent: WireBatch[] = [];
    const h = createHandoff({ maxLines: 4, batchLines: 2, post: (b) => sent.push(b), schedule: () => undefined });
    const turns: (() => void)[] = [];
    const ack = coalesceAcks(
      (lines) => h.ack(lines),
      (f) => turns.push(f),
    );
    for (const t of ['a', 'b', 'c', 'd']) expect(h.offer(raw(t))).toBe(true);
    for (const b of sent) ack(b.count);
    expect(h.offer(raw('e'))).toBe(false);
    turns.shift()!();
    expect(h.depth()).toBe(0);
    expect(h.offer(raw('e'))).toBe(true);
  });
});

describe('batches to the matcher', () => {
  const thread = () => {
    const got: BatchOrder[][] = [];
    const channel = { post: (m: Message & { list?: BatchOrder[] }) => got.push(m.list!) } as unknown as Channel;
    return { channel, ready: true, got, seqs: () => got.map((list) => list.map((o) => o.batch.seq)) };
  };
  const batch = (seq: number) => packBatch(seq, [raw(`line ${seq}`), raw(`more ${seq}`)]);

  it('go out once per turn, in order, in one message', () => {
    const turns: (() => void)[] = [];
    const pending = createPendingBatches((f) => turns.push(f));
    const t = thread();
    for (const seq of [1, 2, 3]) pending.add(batch(seq), t);
    expect(t.got).toEqual([]);
    expect(turns).toHaveLength(1);
    turns.shift()!();
    pending.add(batch(4), t);
    turns.shift()!();
    expect(t.seqs()).toEqual([[1, 2, 3], [4]]);
  });

  it('are kept until answered and all given to a new thread with the lines to skip, once', () => {
    const turns: (() => void)[] = [];
    const pending = createPendingBatches((f) => turns.push(f));
    const [old, restarted] = [thread(), thread()];
    for (const seq of [1, 2]) pending.add(batch(seq), old);
    turns.shift()!();
    pending.add(batch(3), undefined); // no thread ready: waits
    pending.add(batch(4), old);
    expect(pending.take(1)?.seq).toBe(1);
    expect(pending.abandon(2, 1)?.toString()).toBe('more 2');
    pending.sendAll(restarted);
    turns.shift()!(); // the turn's send finds nothing left: the new thread got it through sendAll
    expect(old.seqs()).toEqual([[1, 2]]);
    expect(restarted.seqs()).toEqual([[2, 3, 4]]);
    expect(restarted.got[0]!.map((o) => o.skip)).toEqual([[1], undefined, undefined]);
    expect(pending.take(1)).toBeUndefined();
  });

  it('go to the thread they were added for when a new one takes over within the turn', () => {
    const turns: (() => void)[] = [];
    const pending = createPendingBatches((f) => turns.push(f));
    const [old, restarted] = [thread(), thread()];
    pending.add(batch(1), old);
    pending.add(batch(2), restarted);
    while (turns.length > 0) turns.shift()!();
    expect(old.seqs()).toEqual([[1]]);
    expect(restarted.seqs()).toEqual([[2]]);
  });
});

describe('watchdog', () => {
  it('fires once when the same line stays busy for the timeout, never for moving or idle lines', () => {
    const hb = createHeartbeat();
    let now = 0;
    const fired: number[] = [];
    const w = createWatchdog({ timeoutMs: 100, read: hb.read, now: () => now, onRunaway: (s) => fired.push(s.line) });
    hb.begin(1, 0);
    w.tick();
    now = 60;
    hb.end();
    hb.begin(1, 1);
    w.tick();
    now = 150;
    w.tick();
    expect(fired).toEqual([]);
    now = 160;
    hb.pattern(2);
    w.tick();
    expect(fired).toEqual([1]);
    expect(hb.read()).toMatchObject({ busy: true, seq: 1, line: 1, pattern: 2 });
    hb.end();
    now = 1000;
    w.tick();
    expect(fired).toEqual([1]);
  });
});

describe('receive time on the injected clock', () => {
  const event = { receivedAt: 10_000 } as VpnEvent;
  it('is the line’s real age before the injected now', () => {
    const real = { now: () => 10_250 };
    expect(toClock({ now: () => 500_000 }, real)(event).receivedAt).toBe(499_750);
  });
  it('never goes back for a line that waited longer than the one before it (a standing manual clock)', () => {
    const real = { now: () => 10_250 };
    const map = toClock({ now: () => 500_000 }, real);
    expect(map({ receivedAt: 10_200 } as VpnEvent).receivedAt).toBe(499_950);
    expect(map({ receivedAt: 10_100 } as VpnEvent).receivedAt).toBe(499_950);
  });
  it('is untouched under the real clock', () => {
    const real = { now: () => 10_250 };
    expect(toClock(real, real)(event)).toBe(event);
  });
});

describe('quarantine records', () => {
  it('give the line’s shape, not its content', () => {
    expect(lineShape(Buffer.from('aaaa!'))).toBe('A4P1');
    expect(lineShape(Buffer.from('user=bob 10.0.0.1'))).toBe('A4P1A3S1D2P1D1P1D1P1D1');
    expect(lineShape(Buffer.alloc(10_000, 0x61)).length).toBeLessThanOrEqual(121);
  });
  it('are listed by check as still applying or not, by key', () => {
    const e = {
      patternId: 'p',
      regexHash: 'h1',
      at: '2026-01-01T00:00:00.000Z',
      lineBytes: 41,
      lineShape: 'A40P1',
      matchTimeoutMs: 250,
    };
    const lines = describeQuarantine(
      [
        { ...e, key: 'p:h1' },
        { ...e, key: 'p:h0', regexHash: 'h0' },
      ],
      new Set(['p:h1']),
    );
    expect(lines[0]).toMatch(/^pattern quarantine: p \(regex h1\) QUARANTINED .* 41-byte line shaped A40P1 ran past 250 ms$/);
    expect(lines[1]).toContain('tried again');
    expect(describeQuarantine([], new Set())).toEqual(['pattern quarantine: none']);
  });
  it('key a pattern by id and regex, so an edited regex is a new key', () => {
    const a = patternKey({ id: 'p', regexSource: 'x+' });
    expect(a).toMatch(/^p:[0-9a-f]{16}$/);
    expect(patternKey({ id: 'p', regexSource: 'x+y' })).not.toBe(a);
  });
});

describe('quarantine book', () => {
  it('counts a quarantine once per pattern, and a store that cannot persist it as an operational event', async () => {
    const metrics = createMetrics();
    const emit = createEvents({ metrics, logger: silentLogger, now: () => 0 });
    // A real client with no server behind it: every write fails at once.
    const redis = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const book = createQuarantineBook({
      matchTimeoutMs: 250,
      emit,
      metrics,
      clock: { now: () => 0 },
      store: createQuarantineStore(redis, 'ptim-test'),
    });
    const persistFailures = async () =>
      (await metrics.operationalEvents.get()).values.find((v) => v.labels.event === 'quarantine_persist_failed')?.value ?? 0;
    book.record({ id: 'p', key: 'p:h1' }, Buffer.from('aaaa!'));
    book.record({ id: 'p', key: 'p:h1' }, Buffer.from('aaaa!'));
    const quarantined = (await metrics.quarantines.get()).values.find((v) => v.labels.pattern === 'p')?.value;
    expect(quarantined).toBe(1);
    await waitFor(async () => (await persistFailures()) > 0, { what: 'the failed persist counted' });
    expect(await persistFailures()).toBe(1);
    redis.disconnect();
  });
});

describe('kernel drops', () => {
  const text = [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    ' 1234: 0100007F:14DA 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 424242 2 0000000000000000 17',
    ' 1235: 00000000:0202 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 0',
  ].join('\n');
  it('reads port, inode and drops of each socket', () => {
    expect(parseProcNetUdp(text)).toEqual([
      { localPort: 5338, inode: 424242, drops: 17 },
      { localPort: 514, inode: 99, drops: 0 },
    ]);
  });
  it('counts a figure that went down (sockets re-created) as new', () => {
    expect(dropsDelta(10, 15)).toBe(5);
    expect(dropsDelta(10, 3)).toBe(3);
  });
});

describe('delivery gate', () => {
  it('keeps at most `window` events in the engine, in order, and acknowledges a batch once applied', async () => {
    const applying: { events: readonly VpnEvent[]; done: () => void }[] = [];
    const acked: number[] = [];
    const gate = createDeliveryGate(
      (events) => new Promise<void>((done) => applying.push({ events, done })),
      3,
      (b) => acked.push(b.seq),
    );
    const batch = (seq: number) => packBatch(seq, []);
    const ev = (n: number) => Array.from({ length: n }, () => ({}) as VpnEvent);
    gate.push(batch(1), ev(2));
    gate.push(batch(2), ev(2));
    gate.push(batch(3), ev(0));
    expect(applying.map((a) => a.events.length)).toEqual([2]);
    expect(gate.handed()).toBe(1);
    applying.shift()!.done();
    await new Promise((r) => setImmediate(r));
    expect(acked).toEqual([1]);
    expect(gate.handed()).toBe(3);
    expect(applying.map((a) => a.events.length)).toEqual([2, 0]);
  });
});

describe('match gate', () => {
  const batch = (seq: number, lines: number) =>
    packBatch(
      seq,
      Array.from(
        { length: lines },
        () =>
          ({
            bytes: Buffer.from('x'),
            transport: 'udp',
            sourceIp: '192.0.2.1',
            sourcePort: 514,
            receivedAt: 0,
            truncated: false,
          }) as const,
      ),
    );
  it('holds raw batches back while maxAhead lines are ahead of the engine, and submits them in order', () => {
    const submitted: number[] = [];
    const gate = createMatchGate((b) => submitted.push(b.seq), 5);
    gate.offer(batch(1, 3));
    gate.offer(batch(2, 2));
    gate.offer(batch(3, 1));
    expect(submitted).toEqual([1, 2]);
    gate.handed({ seq: 1, lines: 3 });
    expect(submitted).toEqual([1, 2, 3]);
  });
  it('submits a batch larger than maxAhead once nothing is ahead (never stuck)', () => {
    const submitted: number[] = [];
    const gate = createMatchGate((b) => submitted.push(b.seq), 2);
    gate.offer(batch(1, 1));
    gate.offer(batch(2, 9));
    expect(submitted).toEqual([1]);
    gate.handed({ seq: 1, lines: 1 });
    expect(submitted).toEqual([1, 2]);
  });
});

describe('local counters', () => {
  it('count per line in plain numbers and reach prom-client when settled', async () => {
    const base = createMetrics();
    const { metrics, settle } = withLocalCounters(base, ['received']);
    const udp = metrics.received.labels({ transport: 'udp' });
    udp.inc();
    udp.inc(2);
    const value = async () => (await base.received.get()).values.find((v) => v.labels.transport === 'udp')?.value ?? 0;
    expect(await value()).toBe(0);
    settle();
    expect(await value()).toBe(3);
    settle();
    expect(await value()).toBe(3);
    expect(metrics.registry).toBe(base.registry);
  });
});
