// The session journal's on-disk format, pure (no I/O): how records are framed, checked and read
// back. A segment file is an 8-byte magic followed by records; each record is
//
//   u32 LE body length | u32 LE CRC-32 of the body | body = u8 type, u32 LE id high, u32 LE id low, payload
//
// An `event` record carries one VPN event (JSON payload) under a journal id that only grows; an
// `ack` record says "every event up to this id was applied by Redis". Replay = the events after the
// highest ack. A torn write (power loss) or flipped bits end a segment's readable part: the reader
// stops at the first record whose length or checksum does not hold and reports where and why.
import { crc32 } from 'node:zlib';

export const SEGMENT_MAGIC = Buffer.from('PTIMJNL1', 'latin1');
export const RECORD_HEADER_BYTES = 8;
const BODY_FIXED_BYTES = 9;
/** No single VPN event is anywhere near this; a larger length field is corruption, not data. */
export const MAX_BODY_BYTES = 1 << 20;

const TYPE_EVENT = 1;
const TYPE_ACK = 2;

export type JournalRecord =
  { readonly type: 'event'; readonly id: number; readonly payload: Buffer } | { readonly type: 'ack'; readonly id: number };

export type CorruptReason = 'truncated' | 'checksum' | 'length' | 'type';

export interface DecodeResult {
  readonly records: JournalRecord[];
  /** Offset just after the last intact record (where a repaired file ends). */
  readonly end: number;
  /** Set when the bytes after `end` are not a readable record (absent: clean end of input). */
  readonly corrupt?: { readonly offset: number; readonly reason: CorruptReason };
}

/** Frames one record. `id` is a non-negative integer below 2^53. */
export function encodeRecord(rec: JournalRecord): Buffer {
  const payload = rec.type === 'event' ? rec.payload : undefined;
  const bodyLen = BODY_FIXED_BYTES + (payload?.length ?? 0);
  const buf = Buffer.allocUnsafe(RECORD_HEADER_BYTES + bodyLen);
  buf.writeUInt32LE(bodyLen, 0);
  buf.writeUInt8(rec.type === 'event' ? TYPE_EVENT : TYPE_ACK, 8);
  buf.writeUInt32LE(Math.floor(rec.id / 2 ** 32), 9);
  buf.writeUInt32LE(rec.id % 2 ** 32, 13);
  payload?.copy(buf, RECORD_HEADER_BYTES + BODY_FIXED_BYTES);
  buf.writeUInt32LE(crc32(buf.subarray(RECORD_HEADER_BYTES)), 4);
  return buf;
}

/** Reads records from `offset` until the input ends or a record is not intact. */
export function decodeRecords(buf: Buffer, offset = 0): DecodeResult {
  const records: JournalRecord[] = [];
  let at = offset;
  const stop = (reason: CorruptReason): DecodeResult => ({ records, end: at, corrupt: { offset: at, reason } });
  while (at < buf.length) {
    if (buf.length - at < RECORD_HEADER_BYTES) return stop('truncated');
    const bodyLen = buf.readUInt32LE(at);
    if (bodyLen < BODY_FIXED_BYTES || bodyLen > MAX_BODY_BYTES) return stop('length');
    const bodyAt = at + RECORD_HEADER_BYTES;
    if (buf.length - bodyAt < bodyLen) return stop('truncated');
    const body = buf.subarray(bodyAt, bodyAt + bodyLen);
    if (crc32(body) !== buf.readUInt32LE(at + 4)) return stop('checksum');
    const type = body.readUInt8(0);
    const id = body.readUInt32LE(1) * 2 ** 32 + body.readUInt32LE(5);
    if (type === TYPE_EVENT) records.push({ type: 'event', id, payload: body.subarray(BODY_FIXED_BYTES) });
    else if (type === TYPE_ACK) records.push({ type: 'ack', id });
    else return stop('type');
    at = bodyAt + bodyLen;
  }
  return { records, end: at };
}

/** Bytes `rec` takes in a segment. */
export function encodedLength(rec: JournalRecord): number {
  return RECORD_HEADER_BYTES + BODY_FIXED_BYTES + (rec.type === 'event' ? rec.payload.length : 0);
}

/** True when `buf` starts with the segment magic. */
export function hasSegmentMagic(buf: Buffer): boolean {
  return buf.length >= SEGMENT_MAGIC.length && buf.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC);
}

/** The events a replay must apply, in order: those after the highest ack among `records`. */
export function unacknowledged(records: readonly JournalRecord[]): Extract<JournalRecord, { type: 'event' }>[] {
  let acked = -1;
  for (const r of records) if (r.type === 'ack' && r.id > acked) acked = r.id;
  return records.filter((r): r is Extract<JournalRecord, { type: 'event' }> => r.type === 'event' && r.id > acked);
}
