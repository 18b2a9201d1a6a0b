// Property: for any datagram (binary bytes, any line end, any length around the size limit) the
// batched reader (recvmmsg) and Node's dgram frame the same message: the same bytes, the same
// truncation flag, or the same drop of an empty datagram. Real sockets, one harness per reader.
import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

const MAX = 1024;
let batched: Harness;
let dgram: Harness;
const s = createSocket('udp4');

beforeAll(async () => {
  batched = await startHarness({ udp: { enabled: true, reader: 'recvmmsg' }, maxMessageBytes: MAX });
  dgram = await startHarness({ udp: { enabled: true, reader: 'dgram' }, maxMessageBytes: MAX });
});
afterAll(async () => {
  s.close();
  await batched.stop();
  await dgram.stop();
});

const send = (msg: Buffer, port: number) =>
  new Promise<void>((resolve, reject) => s.send(msg, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));

/** A body of about the limit's length (or short), then a line end, then sometimes more bytes. */
const datagram = fc
  .tuple(
    // Mostly right at the limit, where the kernel's cut (at MAX + 2) and a line end meet.
    fc.oneof(
      { arbitrary: fc.integer({ min: MAX - 2, max: MAX + 2 }), weight: 6 },
      { arbitrary: fc.integer({ min: 0, max: 40 }), weight: 1 },
      { arbitrary: fc.integer({ min: MAX + 3, max: 3 * MAX }), weight: 1 },
    ),
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
    fc.constantFrom('', '\n', '\r\n', '\0', '\r'),
    fc.constantFrom('', 'tail'),
  )
  .map(([len, seed, end, tail]) => {
    const body = Buffer.alloc(len, 0x78);
    for (let i = 0; i < len; i++) body[i] = seed[i % 16]! ^ (i & 0xff);
    return Buffer.concat([body, Buffer.from(end + tail, 'latin1')]);
  });

/** What a harness made of everything it received, and of the datagrams it dropped as empty. */
async function outcome(h: Harness, before: number, beforeEmpty: number) {
  const empty = (await h.counter('dropped', { transport: 'udp', reason: 'bad_frame' })) - beforeEmpty;
  return {
    messages: h.messages.slice(before).map((m) => `${m.truncated} ${m.bytes.toString('hex')}`),
    empty,
  };
}

describe('UDP readers (property)', () => {
  it('recvmmsg and dgram frame every datagram alike', async () => {
    await fc.assert(
      fc.asyncProperty(datagram, async (d) => {
        const counts = await Promise.all(
          [batched, dgram].map(
            async (h) => [h.messages.length, await h.counter('dropped', { transport: 'udp', reason: 'bad_frame' })] as const,
          ),
        );
        await send(d, batched.port('udp'));
        await send(d, dgram.port('udp'));
        // Each datagram is one message or one empty drop: wait for either, on both.
        for (const [k, h] of [batched, dgram].entries()) {
          const [n, e] = counts[k]!;
          await h.waitUntil(
            'the datagram',
            async () => h.messages.length > n || (await h.counter('dropped', { transport: 'udp', reason: 'bad_frame' })) > e,
          );
        }
        const [a, b] = await Promise.all([outcome(batched, ...counts[0]!), outcome(dgram, ...counts[1]!)]);
        expect(a).toEqual(b);
        expect(a.messages.length + a.empty).toBe(1);
      }),
      { numRuns: 150 },
    );
  });
});
