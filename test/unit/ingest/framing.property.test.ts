import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamFramer, type Frame } from '../../../src/ingest/framing.js';

const MAX = 1024;
const CONT = 3;
const LF = 0x0a;
const CR = 0x0d;
const LT = 0x3c;
const NUL = 0x00;

const bytes = (opts: { minLength?: number; maxLength: number; exclude?: number[] }) =>
  fc
    .uint8Array({ minLength: opts.minLength ?? 0, maxLength: opts.maxLength })
    .map((a) => Buffer.from(a.filter((x) => !(opts.exclude ?? []).includes(x))));

/** A syslog-like message (starts with `<`) and how it is framed on the wire. */
type Item = { msg: Buffer; framing: 'octet' | 'lf' | 'crlf' | 'nul'; continuations: number };

/** Octet-counted: any bytes after `<`, but not ending in LF (a counted trailing LF is stripped). */
const octetItem: fc.Arbitrary<Item> = bytes({ maxLength: 300 }).map((body) => {
  let msg = Buffer.concat([Buffer.from('<'), body]);
  while (msg.length > 1 && msg[msg.length - 1] === LF) msg = msg.subarray(0, msg.length - 1);
  return { msg, framing: 'octet', continuations: 0 };
});

/**
 * LF-framed: a first piece starting with `<`, plus up to CONT continuation pieces as a binary
 * IKE-ID with 0x0A produces them: a later piece never starts like a frame (`<`, or `<len> <`), the last one is
 * not blank, and the message does not end in CR (which would be read as CRLF framing).
 */
const piece = fc.oneof(
  bytes({ maxLength: 60, exclude: [LF, NUL] }),
  // Pieces that start with digits and spaces, like the bytes after a 0x0A in 10.49.32.x.
  fc
    .tuple(fc.constantFrom('1 ', '12 ', '9999999 ', '1', '0 <'), bytes({ maxLength: 20, exclude: [LF] }))
    .map(([d, r]) => Buffer.concat([Buffer.from(d), r.filter((b) => b !== NUL)])),
);
const lfItem: fc.Arbitrary<Item> = fc
  .record({
    first: piece,
    rest: fc.array(fc.tuple(piece, fc.constantFrom(LF, NUL)), { maxLength: CONT }),
    framing: fc.constantFrom<'lf' | 'crlf' | 'nul'>('lf', 'crlf', 'nul'),
  })
  .map(({ first, rest, framing }) => {
    const later = rest.map(([p, sep], k) => {
      let q = p;
      if (q[0] === LT || /^[1-9][0-9]{0,6} </.test(q.toString('latin1'))) q = Buffer.concat([Buffer.from('x'), q]);
      // The last piece must carry something other than a CR, or it is a blank line.
      if (k === rest.length - 1 && (q.length === 0 || (q.length === 1 && q[0] === CR))) q = Buffer.from('x');
      return Buffer.concat([Buffer.from([sep]), q]);
    });
    let msg = Buffer.concat([Buffer.from('<'), first, ...later]);
    while (msg.length > 1 && msg[msg.length - 1] === CR) msg = msg.subarray(0, msg.length - 1);
    return { msg, framing, continuations: later.length };
  });

function encode(items: Item[]): Buffer {
  return Buffer.concat(
    items.map((it) =>
      it.framing === 'octet'
        ? Buffer.concat([Buffer.from(`${it.msg.length} `), it.msg])
        : Buffer.concat([it.msg, Buffer.from(it.framing === 'crlf' ? '\r\n' : it.framing === 'nul' ? '\0' : '\n')]),
    ),
  );
}

/** Splits `wire` at the given (sorted, deduplicated) cut points. */
function split(wire: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(wire.subarray(last, p));
    last = p;
  }
  out.push(wire.subarray(last));
  return out;
}

function feed(f: StreamFramer, chunks: Buffer[], check?: () => void): Frame[] {
  const out: Frame[] = [];
  for (const c of chunks) {
    out.push(...f.push(c));
    check?.();
  }
  out.push(...f.end());
  return out;
}

describe('StreamFramer properties', () => {
  it('yields exactly the original messages for any mix of framings and any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(octetItem, lfItem), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (items, cuts) => {
          const drops: string[] = [];
          const f = new StreamFramer({ maxMessageBytes: MAX, maxContinuationLines: CONT, onDrop: (r) => drops.push(r) });
          const out = feed(f, split(encode(items), cuts));
          expect(out.map((x) => x.bytes.toString('hex'))).toEqual(items.map((i) => i.msg.toString('hex')));
          expect(out.map((x) => x.continuations)).toEqual(items.map((i) => i.continuations));
          expect(out.every((x) => !x.truncated)).toBe(true);
          expect(drops).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('also holds when every LF frame is released by a quiet-time flushPending() between messages', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(octetItem, lfItem), { maxLength: 10 }), (items) => {
        const f = new StreamFramer({ maxMessageBytes: MAX, maxContinuationLines: CONT });
        const out: Frame[] = [];
        for (const it of items) {
          out.push(...f.push(encode([it])));
          out.push(...f.flushPending());
        }
        out.push(...f.end());
        expect(out.map((x) => x.bytes.toString('hex'))).toEqual(items.map((i) => i.msg.toString('hex')));
      }),
    );
  });

  it('splits messages sent back to back without any delimiter at their <PRI> headers, in any chunking', () => {
    // Python's SysLogHandler over TCP with append_nul=False: `<14>kmd[2183]: text<14>iked[9]: text`.
    const header = fc.constantFrom(
      '<14>kmd[2183]: ',
      '<30>iked[20431]: ',
      '<30>Mar  3 14:02:11 srx kmd[1]: ',
      '<30>1 2026-03-03T14:02:11Z srx kmd 1 - - ',
    );
    const text = bytes({ maxLength: 80, exclude: [LF, NUL, LT, CR] });
    const message = fc.tuple(header, text).map(([h, t]) => Buffer.concat([Buffer.from(h), t]));
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (msgs, cuts) => {
        const f = new StreamFramer({ maxMessageBytes: MAX, maxContinuationLines: CONT });
        const out = feed(f, split(Buffer.concat(msgs), cuts));
        expect(out.map((x) => x.bytes.toString('latin1'))).toEqual(msgs.map((m) => m.toString('latin1')));
      }),
      { numRuns: 200 },
    );
  });

  it('never throws on garbage, never yields a frame over maxMessageBytes, and stays bounded', () => {
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
      // Garbage made of framing characters is the nasty kind.
      fc
        .array(fc.constantFrom('<', '1', '9', '0', ' ', '\n', '\r', 'x', '\x0a', '2000 ', '99999 ', '<30>'), { maxLength: 800 })
        .map((a) => Buffer.from(a.join(''), 'latin1')),
    );
    fc.assert(
      fc.property(
        fc.array(garbage, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.integer({ min: 0, max: 4 }),
        (parts, cuts, cont) => {
          const f = new StreamFramer({ maxMessageBytes: MAX, maxContinuationLines: cont });
          const out = feed(f, split(Buffer.concat(parts), cuts), () => {
            expect(f.bufferedBytes()).toBeLessThanOrEqual(2 * MAX + 16);
          });
          for (const fr of out) {
            expect(fr.bytes.length).toBeGreaterThan(0);
            expect(fr.bytes.length).toBeLessThanOrEqual(MAX);
            expect(fr.continuations).toBeLessThanOrEqual(cont);
          }
          expect(f.bufferedBytes()).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
