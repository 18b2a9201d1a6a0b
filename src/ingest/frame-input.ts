// Framing an operator's input (a paste, a file, stdin) exactly as the live receivers frame a TCP
// stream, so `patterns explain` and the console's playground say what the bridge does: the same
// StreamFramer (LF, CRLF and NUL delimiters, octet counting, PRI-less LF pieces joined back). A
// log file copy without <PRI> is read line by line instead.
import type { IngestConfig } from '../config/schema.js';
import { StreamFramer, type Frame } from './framing.js';

/** How the live receivers frame a TCP stream (`ingest.maxMessageBytes`, `ingest.maxContinuationLines`). */
export type FramingSettings = Pick<IngestConfig, 'maxMessageBytes' | 'maxContinuationLines'>;

/**
 * Frames a byte stream exactly as a TCP receiver does (the same StreamFramer): LF, CRLF and NUL
 * delimiters, octet counting, and PRI-less LF pieces joined back (a binary IKE-ID holding 0x0A is
 * one message here as it is in the bridge).
 */
export async function* framedMessages(chunks: AsyncIterable<Buffer>, framing: FramingSettings): AsyncGenerator<Frame> {
  const framer = new StreamFramer(framing);
  for await (const chunk of chunks) yield* framer.push(chunk);
  yield* framer.end();
}

/** Splits a byte stream on LF (CR before it dropped), keeping raw bytes (binary IKE-IDs). */
export async function* byteLines(input: NodeJS.ReadableStream | AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let rest = Buffer.alloc(0);
  for await (const chunk of input) {
    rest = Buffer.concat([rest, typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk]);
    let nl: number;
    while ((nl = rest.indexOf(0x0a)) >= 0) {
      yield rest.subarray(0, nl > 0 && rest[nl - 1] === 0x0d ? nl - 1 : nl);
      rest = rest.subarray(nl + 1);
    }
  }
  if (rest.length > 0) yield rest;
}

/**
 * A log file copy (`show log`, a local file) has no `<PRI>`: the receiver would drop it as junk,
 * so it is read line by line and the operator is told so.
 */
async function* fileLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<Frame> {
  for await (const bytes of byteLines(chunks)) yield { bytes, truncated: false, continuations: 0 };
}

async function* asBuffers(input: NodeJS.ReadableStream | AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const chunk of input) yield typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
}

/** Wire syslog (starts with `<` or an octet count) is framed as the receiver does; anything else by line. */
export async function inputFrames(
  input: NodeJS.ReadableStream | AsyncIterable<Buffer> | Iterable<Buffer>,
  framing: FramingSettings,
): Promise<{ wire: boolean; frames: AsyncIterable<Frame> }> {
  const it = asBuffers(input)[Symbol.asyncIterator]();
  let first = await it.next();
  while (!first.done && first.value.length === 0) first = await it.next();
  const rest: AsyncIterable<Buffer> = {
    async *[Symbol.asyncIterator]() {
      if (!first.done) yield first.value;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    },
  };
  const b = first.done ? undefined : first.value[0];
  const wire = b === 0x3c || (b !== undefined && b >= 0x30 && b <= 0x39);
  return { wire, frames: wire ? framedMessages(rest, framing) : fileLines(rest) };
}
