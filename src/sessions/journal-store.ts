// The session journal's file adapter: a directory of segment files (format in journal.ts).
// Appends go to the newest ("active") segment in one write per batch; a segment whose events are
// all acknowledged is deleted whole, so removing applied entries never rewrites a file.
// Ids must keep growing across restarts even for events that were applied before they were ever
// written (Redis remembers, per IP, the last journal id it applied; see script.ts): ids are handed
// out from blocks reserved in the file `next-id`, written durably before a block is used.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { open, rm, truncate, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  decodeRecords,
  encodeRecord,
  encodedLength,
  hasSegmentMagic,
  MAX_BODY_BYTES,
  SEGMENT_MAGIC,
  type CorruptReason,
} from './journal.js';

export interface JournalStoreOptions {
  readonly dir: string;
  /** Bound on all segment files together; when a write would pass it, the oldest segments go. */
  readonly maxBytes: number;
  /** Rotate the active segment past this size. Default: maxBytes / 8, between 8 KiB and 16 MiB. */
  readonly segmentBytes?: number;
  /** fdatasync after every write (and the directory after a new segment). */
  readonly fsync: boolean;
}

export interface Corruption {
  readonly file: string;
  readonly offset: number;
  readonly reason: CorruptReason | 'magic';
  /** Bytes cut off the segment to repair it. */
  readonly bytes: number;
}

export interface StoredEvent {
  readonly id: number;
  readonly payload: Buffer;
}

interface Segment {
  readonly path: string;
  size: number;
  /** Event ids in the segment, ascending. */
  ids: number[];
}

const SEGMENT_RE = /^seg-(\d{16})\.jnl$/;
const segmentName = (seq: number) => `seg-${String(seq).padStart(16, '0')}.jnl`;
/** First read size per call of `read()`: about `max` typical records, so small reads stay small. */
const READ_BYTES_PER_EVENT = 512;
const MIN_READ_BYTES = 16 << 10;
/** Ids reserved per durable write of `next-id` (one small synchronous write per this many events). */
const ID_BLOCK = 1 << 20;

export class JournalStore {
  /** Names this journal in Redis: replay detection is per journal, so replicas never collide. */
  readonly instance: string;
  private segments: Segment[] = [];
  private active?: { seg: Segment; fh: FileHandle };
  private nextId = 1;
  /** Number of the next segment file (names sort in write order). */
  private nextSegment = 1;
  /** Ids below this are reserved on disk; allocating past it writes a new reservation first. */
  private reserved = 0;
  private acked = 0;
  private readonly segmentBytes: number;
  /** Where the reader stopped: next byte to read in `segments[cursor.seg]` after event id `cursor.after`. */
  private cursor = { path: '', offset: 0, after: -1 };

  private constructor(
    private readonly opts: JournalStoreOptions,
    instance: string,
  ) {
    this.instance = instance;
    this.segmentBytes = opts.segmentBytes ?? Math.min(16 << 20, Math.max(8 << 10, Math.floor(opts.maxBytes / 8)));
  }

  /**
   * Opens (creating) the directory, checks every segment, cuts corrupt or torn tails off (reported,
   * never fatal) and deletes fully acknowledged segments. `ackedThrough()` is then where replay starts.
   */
  static async open(opts: JournalStoreOptions): Promise<{ store: JournalStore; corruptions: Corruption[] }> {
    mkdirSync(opts.dir, { recursive: true });
    const store = new JournalStore(opts, readOrCreateInstance(opts.dir));
    const corruptions: Corruption[] = [];
    for (const name of readdirSync(opts.dir).sort()) {
      const m = SEGMENT_RE.exec(name);
      if (!m) continue;
      store.nextSegment = Math.max(store.nextSegment, Number(m[1]) + 1);
      const seg = await store.scanSegment(join(opts.dir, name), corruptions);
      store.segments.push(seg);
    }
    store.nextId = Math.max(store.nextId, readReservation(opts.dir));
    store.reserve();
    await store.release();
    await store.openActive();
    return { store, corruptions };
  }

  private async scanSegment(path: string, corruptions: Corruption[]): Promise<Segment> {
    const buf = readFileSync(path);
    const seg: Segment = { path, size: SEGMENT_MAGIC.length, ids: [] };
    if (!hasSegmentMagic(buf)) {
      corruptions.push({ file: path, offset: 0, reason: 'magic', bytes: buf.length });
      writeFileSync(path, SEGMENT_MAGIC);
      return seg;
    }
    const r = decodeRecords(buf, SEGMENT_MAGIC.length);
    for (const rec of r.records) {
      this.nextId = Math.max(this.nextId, rec.id + 1);
      if (rec.type === 'event') seg.ids.push(rec.id);
      else this.acked = Math.max(this.acked, rec.id);
    }
    seg.size = r.end;
    if (r.corrupt) {
      corruptions.push({ file: path, offset: r.corrupt.offset, reason: r.corrupt.reason, bytes: buf.length - r.end });
      await truncate(path, r.end);
    }
    return seg;
  }

  private async openActive(): Promise<void> {
    const path = join(this.opts.dir, segmentName(this.nextSegment++));
    const fh = await open(path, 'w');
    // Each segment starts with the last ack, so deleting older segments never loses it.
    const head = this.acked > 0 ? Buffer.concat([SEGMENT_MAGIC, encodeRecord({ type: 'ack', id: this.acked })]) : SEGMENT_MAGIC;
    await fh.write(head);
    const seg: Segment = { path, size: head.length, ids: [] };
    if (this.opts.fsync) {
      await fh.datasync();
      syncDir(this.opts.dir);
    }
    this.segments.push(seg);
    this.active = { seg, fh };
  }

  /** Highest id known applied (from the acks written so far). */
  ackedThrough(): number {
    return this.acked;
  }

  /** A fresh id, larger than any id this directory ever handed out. */
  allocate(): number {
    if (this.nextId >= this.reserved) this.reserve();
    return this.nextId++;
  }

  private reserve(): void {
    this.reserved = this.nextId + ID_BLOCK;
    writeDurably(join(this.opts.dir, 'next-id'), `${this.reserved}\n`);
  }

  bytes(): number {
    return this.segments.reduce((s, x) => s + x.size, 0);
  }

  /** The lowest event id still stored (Infinity when none): every id below it is gone or applied. */
  oldestEventId(): number {
    for (const s of this.segments) if (s.ids.length > 0) return s.ids[0]!;
    return Infinity;
  }

  /** The highest event id stored (0 when none). */
  lastEventId(): number {
    return Math.max(0, ...this.segments.map((s) => s.ids.at(-1) ?? 0));
  }

  /** Events stored and not acknowledged. */
  pending(): number {
    let n = 0;
    for (const s of this.segments) for (let i = s.ids.length - 1; i >= 0 && s.ids[i]! > this.acked; i--) n++;
    return n;
  }

  /**
   * Appends `events` (ids ascending, above every id written before) and, when given, an ack, in
   * one write. Makes room first by deleting the oldest segments; returns the event ids lost so.
   */
  async append(events: readonly StoredEvent[], ackThrough?: number): Promise<number[]> {
    const chunks: Buffer[] = events.map((e) => encodeRecord({ type: 'event', id: e.id, payload: e.payload }));
    if (ackThrough !== undefined && ackThrough > this.acked) chunks.push(encodeRecord({ type: 'ack', id: ackThrough }));
    if (chunks.length === 0) return [];
    const ids = events.map((e) => e.id);
    let need = chunks.reduce((s, c) => s + c.length, 0);
    const lost = await this.makeRoom(need);
    // A single batch larger than the whole journal keeps only its newest events.
    while (need + SEGMENT_MAGIC.length > this.opts.maxBytes && ids.length > 0) {
      lost.push(ids.shift()!);
      need -= chunks.shift()!.length;
    }
    const active = this.active!;
    const data = Buffer.concat(chunks);
    await active.fh.write(data);
    if (this.opts.fsync) await active.fh.datasync();
    active.seg.size += data.length;
    for (const id of ids) active.seg.ids.push(id);
    if (ackThrough !== undefined && ackThrough > this.acked) {
      this.acked = ackThrough;
      await this.release();
    }
    if (active.seg.size >= this.segmentBytes) await this.rotate();
    return lost;
  }

  private async makeRoom(need: number): Promise<number[]> {
    const lost: number[] = [];
    while (this.bytes() + need > this.opts.maxBytes) {
      if (this.segments[0] === this.active!.seg) {
        if (this.active!.seg.ids.length === 0) break;
        await this.rotate();
        continue;
      }
      const oldest = this.segments.shift()!;
      for (const id of oldest.ids) if (id > this.acked) lost.push(id);
      await rm(oldest.path, { force: true });
    }
    return lost;
  }

  private async rotate(): Promise<void> {
    await this.active?.fh.close();
    this.active = undefined;
    await this.openActive();
    await this.release();
  }

  /** Deletes every segment, except the active one, whose events are all acknowledged. */
  private async release(): Promise<void> {
    const keep: Segment[] = [];
    for (const s of this.segments) {
      const done = (s.ids.at(-1) ?? -1) <= this.acked;
      if (done && s !== this.active?.seg) await rm(s.path, { force: true });
      else keep.push(s);
    }
    this.segments = keep;
  }

  /**
   * Up to `max` stored events with ids above `after`, in order (sync reads: this runs while the
   * engine has room, a chunk at a time). Continues where the previous call stopped when it can.
   */
  read(after: number, max: number): StoredEvent[] {
    const out: StoredEvent[] = [];
    for (const seg of this.segments) {
      if ((seg.ids.at(-1) ?? -1) <= after) continue;
      let offset = this.cursor.path === seg.path && this.cursor.after <= after ? this.cursor.offset : SEGMENT_MAGIC.length;
      let want = Math.max(MIN_READ_BYTES, (max - out.length) * READ_BYTES_PER_EVENT);
      while (out.length < max && offset < seg.size) {
        const length = Math.min(want, seg.size - offset);
        const r = decodeRecords(readRange(seg.path, offset, length));
        if (r.records.length === 0) {
          // One record larger than the read (never corrupt: the segment was checked at open).
          if (length === seg.size - offset || want > MAX_BODY_BYTES + 64) break;
          want *= 2;
          continue;
        }
        let used = 0;
        for (const rec of r.records) {
          if (out.length >= max) break;
          used += encodedLength(rec);
          if (rec.type === 'event' && rec.id > after) out.push({ id: rec.id, payload: Buffer.from(rec.payload) });
        }
        offset += used;
        this.cursor = { path: seg.path, offset, after: out.at(-1)?.id ?? after };
      }
      if (out.length >= max) break;
    }
    return out;
  }

  /** Closes the active segment (kept: it carries the next id). */
  async close(): Promise<void> {
    await this.release();
    await this.active?.fh.close();
    this.active = undefined;
  }
}

function readRange(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(length);
    const n = readSync(fd, buf, 0, length, offset);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function readReservation(dir: string): number {
  try {
    const n = Number(readFileSync(join(dir, 'next-id'), 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 1;
  } catch {
    return 1;
  }
}

/** Write to a temporary name, fsync, rename: the file holds the old or the new text, never half. */
function writeDurably(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncDir(dirname(path));
}

function readOrCreateInstance(dir: string): string {
  const file = join(dir, 'instance');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{16}$/.test(id)) return id;
  } catch {
    // first start: create it below
  }
  const id = randomBytes(8).toString('hex');
  writeDurably(file, `${id}\n`);
  return id;
}

/** Makes a new file name durable (the file's own fsync does not cover its directory entry). */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
