// The bounded queue between the receive thread and the matcher. Candidate lines are packed into
// batches (one contiguous byte array plus per-line metadata, so one postMessage carries many lines
// and TCP framing's slices of large read buffers are not cloned whole). The receive thread counts
// lines handed off and not yet acknowledged as matched; past `maxLines` a new candidate is refused
// (the caller counts and logs it), so a stalled matcher costs bounded memory, never the socket.
import type { RawMessage, Transport } from '../types.js';

export interface WireLine {
  readonly len: number;
  readonly transport: Transport;
  readonly sourceIp: string;
  readonly sourcePort: number;
  /** Real time (epoch ms) the receive thread framed the line; see `toClock` in ingest.ts. */
  readonly receivedAt: number;
  readonly truncated: boolean;
  readonly firewall?: string;
}

export interface WireBatch {
  /** 1, 2, 3… per receive thread; the matcher answers batches in order. */
  readonly seq: number;
  readonly data: Uint8Array;
  readonly lines: readonly WireLine[];
}

export function packBatch(seq: number, raws: readonly RawMessage[]): WireBatch {
  let size = 0;
  for (const r of raws) size += r.bytes.length;
  const data = new Uint8Array(size);
  const lines: WireLine[] = [];
  let at = 0;
  for (const r of raws) {
    data.set(r.bytes, at);
    at += r.bytes.length;
    const { transport, sourceIp, sourcePort, receivedAt, truncated, firewall } = r;
    lines.push({
      len: r.bytes.length,
      transport,
      sourceIp,
      sourcePort,
      receivedAt,
      truncated,
      ...(firewall === undefined ? {} : { firewall }),
    });
  }
  return { seq, data, lines };
}

/** The batch's messages; `bytes` are views of the batch's data (no copy). */
export function unpackBatch(batch: WireBatch): RawMessage[] {
  const out: RawMessage[] = [];
  const buf = Buffer.from(batch.data.buffer, batch.data.byteOffset, batch.data.byteLength);
  let at = 0;
  for (const l of batch.lines) {
    const { len, ...meta } = l;
    out.push({ ...meta, bytes: buf.subarray(at, at + len) });
    at += len;
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

export function createHandoff(opts: HandoffOptions): Handoff {
  let pending: RawMessage[] = [];
  let inFlight = 0;
  let seq = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return seq;
    const batch = packBatch(++seq, pending);
    inFlight += pending.length;
    pending = [];
    opts.post(batch);
    return seq;
  };
  return {
    offer(raw) {
      if (inFlight + pending.length >= opts.maxLines) return false;
      pending.push(raw);
      if (pending.length >= opts.batchLines) flush();
      else if (!scheduled) {
        scheduled = true;
        opts.schedule(flush);
      }
      return true;
    },
    flush,
    ack(lines) {
      inFlight = Math.max(0, inFlight - lines);
    },
    depth: () => inFlight + pending.length,
  };
}
