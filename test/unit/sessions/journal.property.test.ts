// The journal format and its file adapter: whatever sequence of appends, acknowledgements,
// restarts and torn writes (a crash mid-write) happens, a reopen replays exactly the events after
// the last acknowledgement that reached the disk, in order; corrupt bytes are cut, never fatal.
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeRecords, encodeRecord, encodedLength, unacknowledged, type JournalRecord } from '../../../src/sessions/journal.js';
import { JournalStore } from '../../../src/sessions/journal-store.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'ptim-journal-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const recordArb: fc.Arbitrary<JournalRecord> = fc.oneof(
  fc.record({
    type: fc.constant('event' as const),
    id: fc.maxSafeNat(),
    payload: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  }),
  fc.record({ type: fc.constant('ack' as const), id: fc.maxSafeNat() }),
);

describe('journal record format', () => {
  it('round-trips any records', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 20 }), (recs) => {
        const buf = Buffer.concat(recs.map(encodeRecord));
        const r = decodeRecords(buf);
        expect(r.corrupt).toBeUndefined();
        expect(r.end).toBe(buf.length);
        expect(r.records).toEqual(recs);
      }),
    );
  });

  it('a cut anywhere keeps exactly the records before it and reports a torn tail', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 10 }), fc.nat(), (recs, cutSeed) => {
        const buf = Buffer.concat(recs.map(encodeRecord));
        const cut = cutSeed % (buf.length + 1);
        const r = decodeRecords(buf.subarray(0, cut));
        let end = 0;
        const whole = recs.filter((x) => (end += encodedLength(x)) <= cut);
        expect(r.records).toEqual(whole);
        expect(r.end).toBe(whole.reduce((s, x) => s + encodedLength(x), 0));
        if (r.end < cut) expect(r.corrupt?.reason).toBe('truncated');
      }),
    );
  });

  it('a flipped byte ends the readable part at the record it hit (CRC-32 or length check)', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { minLength: 1, maxLength: 10 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (recs, at, x) => {
          const buf = Buffer.concat(recs.map(encodeRecord));
          const pos = at % buf.length;
          buf[pos] = buf[pos]! ^ x;
          const r = decodeRecords(buf);
          let end = 0;
          const before = recs.filter((rec) => (end += encodedLength(rec)) <= pos);
          expect(r.records).toEqual(before);
          expect(r.corrupt).toBeDefined();
        },
      ),
    );
  });

  it('replay set: events after the highest ack, in order', () => {
    const e = (id: number): JournalRecord => ({ type: 'event', id, payload: Buffer.from(`e${id}`) });
    expect(unacknowledged([e(1), e(2), { type: 'ack', id: 1 }, e(3)]).map((r) => r.id)).toEqual([2, 3]);
    expect(unacknowledged([e(1), { type: 'ack', id: 3 }])).toEqual([]);
  });
});

type Op =
  | { op: 'append'; n: number; ack: boolean }
  | { op: 'ack'; back: number }
  | { op: 'reopen' }
  | { op: 'torn'; n: number; ack: boolean; keepSeed: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('append' as const), n: fc.integer({ min: 0, max: 6 }), ack: fc.boolean() }),
  fc.record({ op: fc.constant('ack' as const), back: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ op: fc.constant('reopen' as const) }),
  fc.record({ op: fc.constant('torn' as const), n: fc.integer({ min: 1, max: 4 }), ack: fc.boolean(), keepSeed: fc.nat() }),
);

const payloadOf = (id: number) => Buffer.from(JSON.stringify({ id, pad: 'x'.repeat(id % 17) }));

function newestSegment(dir: string): string {
  const segs = readdirSync(dir)
    .filter((f) => f.endsWith('.jnl'))
    .sort();
  return join(dir, segs.at(-1)!);
}

describe('journal store', () => {
  it('any appends, acks, restarts and torn writes: a reopen replays exactly the unacknowledged events, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 25 }), async (ops) => {
        const dir = tempDir();
        const open = async () => (await JournalStore.open({ dir, maxBytes: 1 << 30, segmentBytes: 300, fsync: false })).store;
        let store = await open();
        /** What reached the disk, in write order: the model. */
        const model: JournalRecord[] = [];
        /** Ids handed out so far (an ack may name any of them, as the layer acks ids never written). */
        const ids: number[] = [];
        const ackOf = (back: number) => ids[Math.max(0, ids.length - 1 - back)];
        const highestAck = () => model.reduce((m, r) => (r.type === 'ack' ? Math.max(m, r.id) : m), 0);
        for (const o of ops) {
          if (o.op === 'append' || o.op === 'torn') {
            const batch = Array.from({ length: o.n }, () => store.allocate());
            ids.push(...batch);
            const ack = o.ack && ids.length > 0 ? ids[Math.floor(ids.length / 2)] : undefined;
            const events = batch.map((id) => ({ id, payload: payloadOf(id) }));
            if (o.op === 'append') {
              await store.append(events, ack);
              model.push(...events.map((e) => ({ type: 'event' as const, ...e })));
              if (ack !== undefined && ack > highestAck()) model.push({ type: 'ack', id: ack });
            } else {
              // A crash in the middle of this write: only a prefix of its bytes reached the file.
              await store.close();
              const recs: JournalRecord[] = events.map((e) => ({ type: 'event', ...e }));
              if (ack !== undefined && ack > highestAck()) recs.push({ type: 'ack', id: ack });
              const bytes = Buffer.concat(recs.map(encodeRecord));
              const keep = o.keepSeed % (bytes.length + 1);
              appendFileSync(newestSegment(dir), bytes.subarray(0, keep));
              let end = 0;
              model.push(...recs.filter((r) => (end += encodedLength(r)) <= keep));
              store = await open();
            }
          } else if (o.op === 'ack') {
            const ack = ackOf(o.back);
            if (ack === undefined) continue;
            await store.append([], ack);
            if (ack > highestAck()) model.push({ type: 'ack', id: ack });
          } else {
            await store.close();
            store = await open();
          }
        }
        await store.close();
        store = await open();
        const want = unacknowledged(model).map((r) => ({ id: r.id, payload: r.payload }));
        expect(store.read(store.ackedThrough(), Number.MAX_SAFE_INTEGER)).toEqual(want);
        expect(store.pending()).toBe(want.length);
        // New ids stay above every id ever handed out, across the restarts.
        expect(store.allocate()).toBeGreaterThan(Math.max(0, ...ids));
        await store.close();
      }),
      { numRuns: 60 },
    );
  });

  it('reads in chunks continue where the last one stopped', async () => {
    const dir = tempDir();
    const { store } = await JournalStore.open({ dir, maxBytes: 1 << 30, segmentBytes: 500, fsync: false });
    const ids = Array.from({ length: 40 }, () => store.allocate());
    for (let i = 0; i < ids.length; i += 7) await store.append(ids.slice(i, i + 7).map((id) => ({ id, payload: payloadOf(id) })));
    const got: number[] = [];
    for (let after = 0, part = store.read(after, 3); part.length > 0; part = store.read(after, 3)) {
      got.push(...part.map((e) => e.id));
      after = part.at(-1)!.id;
    }
    expect(got).toEqual(ids);
    await store.close();
  });

  it('reads a record larger than one read', async () => {
    const dir = tempDir();
    const { store } = await JournalStore.open({ dir, maxBytes: 1 << 30, fsync: false });
    const big = { id: store.allocate(), payload: Buffer.alloc(200_000, 'b') };
    const small = { id: store.allocate(), payload: Buffer.from('s') };
    await store.append([big, small]);
    expect(store.read(0, 1)).toEqual([big]);
    expect(store.read(big.id, 1)).toEqual([small]);
    await store.close();
  });

  it('when full, drops the oldest segments and reports their unacknowledged ids', async () => {
    const dir = tempDir();
    const maxBytes = 64 * 1024;
    const { store } = await JournalStore.open({ dir, maxBytes, segmentBytes: 8 * 1024, fsync: false });
    const payload = Buffer.alloc(200, 'a');
    const all: number[] = [];
    const lost: number[] = [];
    for (let i = 0; i < 100; i++) {
      const batch = Array.from({ length: 5 }, () => store.allocate());
      all.push(...batch);
      lost.push(...(await store.append(batch.map((id) => ({ id, payload })))));
    }
    expect(store.bytes()).toBeLessThanOrEqual(maxBytes);
    expect(lost.length).toBeGreaterThan(0);
    // The oldest went, and exactly those: the rest replays in order.
    expect(lost).toEqual(all.slice(0, lost.length));
    expect(store.read(0, Number.MAX_SAFE_INTEGER).map((e) => e.id)).toEqual(all.slice(lost.length));
    await store.close();
  });

  it('a corrupt segment header or garbage tail is cut and reported, and the start goes on', async () => {
    const dir = tempDir();
    let { store } = await JournalStore.open({ dir, maxBytes: 1 << 20, fsync: true });
    const ids = [store.allocate(), store.allocate()];
    await store.append(ids.map((id) => ({ id, payload: payloadOf(id) })));
    await store.close();
    const seg = newestSegment(dir);
    const good = statSync(seg).size;
    appendFileSync(seg, Buffer.from('garbage after a power loss'));
    writeFileSync(join(dir, 'seg-0000000000000000.jnl'), 'not a segment');
    const reopened = await JournalStore.open({ dir, maxBytes: 1 << 20, fsync: true });
    store = reopened.store;
    expect(reopened.corruptions.map((c) => c.reason).sort()).toEqual(['length', 'magic']);
    expect(statSync(seg).size).toBe(good);
    // Repaired to an empty segment, which holds nothing to keep: deleted.
    expect(existsSync(join(dir, 'seg-0000000000000000.jnl'))).toBe(false);
    expect(store.read(0, 10).map((e) => e.id)).toEqual(ids);
    await store.close();
  });
});
