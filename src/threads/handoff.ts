// The bounded queue between the receive thread and the matcher. Candidate lines are packed into
// batches: one SharedArrayBuffer holding the lines' bytes and their metadata, so a postMessage
// carries a buffer instead of an object per line, and relaying a batch (the main thread keeps it
// until the matcher answers) copies nothing. A line waiting to be packed holds its own copy of its
// bytes (a receiver's are valid only during its call), so no read buffer is kept alive. The receive thread counts lines handed off and
// not yet acknowledged as matched; past `maxLines` a new candidate is refused (the caller counts
// and logs it), so a stalled matcher costs bounded memory, never the socket.
import { retainBytes } from '../ingest/receiver.js';
import type { RawMessage, Transport } from '../types.js';

export interface WireBatch {
  /** 1, 2, 3… per receive thread; the matcher answers batches in order. */
  readonly seq: number;
  /** Lines in the batch. */
  readonly count: number;
  /** The lines and their metadata (layout below); never written once packed, so threads share it. */
  readonly buffer: SharedArrayBuffer;
}

/** A batch as the matcher thread gets it: with the lines to skip when it is sent again (after a runaway line). */
export interface BatchOrder {
  readonly batch: WireBatch;
  readonly skip?: readonly number[];
}

const TRANSPORTS: readonly Transport[] = ['udp', 'tcp', 'tls'];
const TRUNCATED = 4;
/** Per line: bytes, source port, flags (transport index | TRUNCATED), source IP string, firewall string + 1 (0: none). */
const WORDS = 5;

/**
 * Layout, for `count` lines and `n` distinct strings (source IPs and firewall names, usually a
 * handful per batch) of u_0…u_n-1 UTF-16 code units:
 *   Float64 receivedAt × count | Uint32 line words × WORDS·count | Uint32 n | Uint32 u_i × n |
 *   the strings in UTF-16LE (any JS string, lone surrogates included) | the lines' bytes.
 */
function layout(count: number, strings: number, units: number, bytes: number) {
  const words = 8 * count;
  const table = words + 4 * WORDS * count;
  const text = table + 4 * (1 + strings);
  const data = text + 2 * units;
  return { words, table, text, data, size: data + bytes };
}

export function packBatch(seq: number, raws: readonly RawMessage[]): WireBatch {
  const strings = new Map<string, number>();
  let units = 0;
  let bytes = 0;
  const intern = (s: string) => {
    let i = strings.get(s);
    if (i === undefined) {
      strings.set(s, (i = strings.size));
      units += s.length;
    }
    return i;
  };
  // Each line's source IP and firewall (+ 1, 0: none) as indexes into `strings`.
  const refs = new Uint32Array(2 * raws.length);
  raws.forEach((r, i) => {
    bytes += r.bytes.length;
    refs[2 * i] = intern(r.sourceIp);
    refs[2 * i + 1] = r.firewall === undefined ? 0 : intern(r.firewall) + 1;
  });
  const at = layout(raws.length, strings.size, units, bytes);
  const buffer = new SharedArrayBuffer(at.size);
  const receivedAt = new Float64Array(buffer, 0, raws.length);
  const words = new Uint32Array(buffer, at.words, WORDS * raws.length);
  const out = Buffer.from(buffer);
  let data = at.data;
  raws.forEach((r, i) => {
    receivedAt[i] = r.receivedAt;
    const w = WORDS * i;
    words[w] = r.bytes.length;
    words[w + 1] = r.sourcePort;
    words[w + 2] = TRANSPORTS.indexOf(r.transport) | (r.truncated ? TRUNCATED : 0);
    words[w + 3] = refs[2 * i]!;
    words[w + 4] = refs[2 * i + 1]!;
    out.set(r.bytes, data);
    data += r.bytes.length;
  });
  const table = new Uint32Array(buffer, at.table, 1 + strings.size);
  table[0] = strings.size;
  let text = at.text;
  for (const s of strings.keys()) {
    table[1 + strings.get(s)!] = s.length;
    text += out.write(s, text, 'utf16le');
  }
  return { seq, count: raws.length, buffer };
}

/** The batch's strings, by index. */
function readStrings(buffer: SharedArrayBuffer, count: number, view: Buffer): string[] {
  const at = layout(count, 0, 0, 0);
  const n = new Uint32Array(buffer, at.table, 1)[0]!;
  const units = new Uint32Array(buffer, at.table + 4, n);
  const strings: string[] = [];
  let text = at.table + 4 * (1 + n);
  for (const u of units) {
    strings.push(view.toString('utf16le', text, text + 2 * u));
    text += 2 * u;
  }
  return strings;
}

/** The batch's messages; `bytes` are views of the batch's buffer (no copy). */
export function unpackBatch(batch: WireBatch): RawMessage[] {
  const { buffer, count } = batch;
  const view = Buffer.from(buffer);
  const strings = readStrings(buffer, count, view);
  const text = strings.reduce((sum, s) => sum + s.length, 0);
  const at = layout(count, strings.length, text, 0);
  const receivedAt = new Float64Array(buffer, 0, count);
  const words = new Uint32Array(buffer, at.words, WORDS * count);
  const out: RawMessage[] = [];
  let data = at.data;
  for (let i = 0; i < count; i++) {
    const w = WORDS * i;
    const len = words[w]!;
    const firewall = words[w + 4]!;
    out.push({
      bytes: view.subarray(data, data + len),
      transport: TRANSPORTS[words[w + 2]! & 3]!,
      sourceIp: strings[words[w + 3]!]!,
      sourcePort: words[w + 1]!,
      receivedAt: receivedAt[i]!,
      truncated: (words[w + 2]! & TRUNCATED) !== 0,
      ...(firewall === 0 ? {} : { firewall: strings[firewall - 1]! }),
    });
    data += len;
  }
  return out;
}

export interface HandoffOptions {
  /** Lines handed off and not yet acknowledged, at most (ingest.handoffMaxLines). */
  readonly maxLines: number;
  /** Lines per batch at most; a batch also goes out at the end of each event-loop turn. */
  readonly batchLines: number;
  readonly post: (batch: WireBatch) => void;
  /** Runs `flush` after the current I/O callbacks (setImmediate in production). */
  readonly schedule: (flush: () => void) => void;
}

export interface Handoff {
  /** False when the queue is full (the line is refused). */
  offer(raw: RawMessage): boolean;
  /** Sends the pending batch now; returns the seq of the last batch sent. */
  flush(): number;
  /** The matcher finished `lines` lines. */
  ack(lines: number): void;
  /** Lines pending or in flight. */
  depth(): number;
}

/**
 * `run` once after the current turn (`schedule`), however many times it is asked for during it: the
 * hand-off's batches, its acknowledgements and the main thread's sends to the matcher all go out
 * this way, one message per turn.
 */
export function oncePerTurn(schedule: (run: () => void) => void, run: () => void): () => void {
  let scheduled = false;
  const go = () => {
    scheduled = false;
    run();
  };
  return () => {
    if (scheduled) return;
    scheduled = true;
    schedule(go);
  };
}

export function createHandoff(opts: HandoffOptions): Handoff {
  let pending: RawMessage[] = [];
  let inFlight = 0;
  let seq = 0;
  const flush = () => {
    if (pending.length === 0) return seq;
    const batch = packBatch(++seq, pending);
    inFlight += batch.count;
    pending = [];
    opts.post(batch);
    return seq;
  };
  const flushLater = oncePerTurn(opts.schedule, flush);
  return {
    offer(raw) {
      if (inFlight + pending.length >= opts.maxLines) return false;
      // A line's bytes are valid only during the receiver's call (batched UDP reads reuse their
      // memory), and the line waits here until its batch is packed: keep a copy.
      pending.push(retainBytes(raw));
      if (pending.length >= opts.batchLines) flush();
      else flushLater();
      return true;
    },
    flush,
    ack(lines) {
      inFlight = Math.max(0, inFlight - lines);
    },
    depth: () => inFlight + pending.length,
  };
}

/**
 * Acknowledgements, at most one message per `schedule` (an event-loop turn in production): each
 * postMessage has a fixed cost for the sender (setting up the clone, waking the receive thread),
 * and in a storm the main thread applies many batches per turn. Holding an ack until the end of
 * the turn keeps the hand-off's count up a little longer, never lower, so the bound still holds;
 * drain and stop wait on matched batches, not on acks.
 */
export function coalesceAcks(post: (lines: number) => void, schedule: (send: () => void) => void): (lines: number) => void {
  let lines = 0;
  const sendLater = oncePerTurn(schedule, () => {
    const n = lines;
    lines = 0;
    post(n);
  });
  return (n) => {
    lines += n;
    sendLater();
  };
}
