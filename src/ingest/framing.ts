// Turns a byte stream (TCP/TLS, RFC 6587) or a datagram into syslog messages. Pure: no I/O,
// no clock; the receiver decides when a quiet connection should release a held frame.
//
// Why LF frames are held back: old kmd prints an IPv4 IKE-ID as 4 raw bytes, which may include
// 0x0A. Over LF framing such a message arrives as two or more pieces, the later ones without
// `<PRI>`. A piece is only known to be complete once the first byte of the *next* frame is seen.
//
// Delimiters: LF (and CRLF), and NUL as rsyslog's imtcp accepts with `AddtlFrameDelimiter`
// (Python's SysLogHandler ends each TCP message with NUL). A sender that uses no delimiter at
// all (SysLogHandler with append_nul=False) is split where the next `<PRI>` header starts; once
// a connection has shown that, a quiet connection also releases its unterminated last message.
//
// Why frames share memory with the chunks: allocating and copying per line cost ~5× the rest of
// the hot path. A frame that lies whole in one chunk is a subarray of it (Node hands every socket
// read a fresh Buffer, so nothing overwrites it); only a frame spread over chunks is copied.

export interface Frame {
  /** Message bytes without framing (no octet count, no trailing LF/CRLF). */
  readonly bytes: Buffer;
  /** Cut at maxMessageBytes. */
  readonly truncated: boolean;
  /** LF pieces joined to the first one (binary IKE-IDs containing 0x0A). */
  readonly continuations: number;
}

/** Why bytes were thrown away: `bad_frame` (junk where a frame should start, or an incomplete
 *  octet-counted frame at end of stream) or `oversize` (an octet-counted frame over the limit). */
export type FrameDropReason = 'bad_frame' | 'oversize';

export interface FramerOptions {
  readonly maxMessageBytes: number;
  readonly maxContinuationLines: number;
  /** Told about every discarded frame, once per frame. */
  readonly onDrop?: (reason: FrameDropReason) => void;
}

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const GT = 0x3e;
const COLON = 0x3a;
const DASH = 0x2d;
const LB = 0x5b;
const RB = 0x5d;
const SP = 0x20;
const LT = 0x3c; // '<'
const ZERO = 0x30;
const NINE = 0x39;
/** RFC 6587 MSG-LEN digits we accept: up to 9,999,999 bytes. More is junk, not a length. */
const MAX_COUNT_DIGITS = 7;

const isDigit = (b: number) => b >= ZERO && b <= NINE;
/** Bytes a process name (`kmd`, `/kernel`, `iked`) may hold. */
const isNameByte = (b: number) => b > SP && b < 0x7f && b !== LB && b !== RB && b !== COLON && b !== LT;
const MONTHS = new Set(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']);
/** Longest process name looked at when deciding whether `<PRI>name[pid]: ` starts a message. */
const MAX_NAME_BYTES = 48;

/**
 * Whether `<PRI>` at `j` starts a syslog header: RFC 5424 `1 `, a BSD month, an ISO date, or
 * `name[pid]: `. Undefined when the chunk ends before that can be told. Text inside a Junos
 * message (`<VPN_GW_PUBLIC_IP>`, `<none>`) never has this shape.
 */
export function startsMessage(b: Buffer, j: number): boolean | undefined {
  let k = j + 1;
  let pri = 0;
  while (k < b.length && k - j <= 3 && isDigit(b[k]!)) pri = pri * 10 + (b[k++]! - ZERO);
  if (k >= b.length) return undefined;
  if (k === j + 1 || b[k] !== GT || pri > 191 || (b[j + 1] === ZERO && k > j + 2)) return false;
  k++;
  if (b.length - k < 5) return undefined;
  if (b[k] === 0x31 && b[k + 1] === SP && (isDigit(b[k + 2]!) || b[k + 2] === DASH)) return true;
  if (b[k + 3] === SP && MONTHS.has(b.toString('latin1', k, k + 3))) return true;
  if (isDigit(b[k]!) && isDigit(b[k + 1]!) && isDigit(b[k + 2]!) && isDigit(b[k + 3]!) && b[k + 4] === DASH) return true;
  let n = k;
  while (n < b.length && n - k < MAX_NAME_BYTES && isNameByte(b[n]!)) n++;
  if (n >= b.length) return undefined;
  if (n === k || b[n] !== LB) return false;
  const pidStart = ++n;
  while (n < b.length && n - pidStart < 10 && isDigit(b[n]!)) n++;
  if (n + 2 >= b.length) return undefined;
  return n > pidStart && b[n] === RB && b[n + 1] === COLON && b[n + 2] === SP;
}

/** Where the LF piece that continues at `i` ends within this chunk. */
type PieceEnd =
  | { readonly kind: 'delimiter'; readonly at: number; readonly delimiter: number } // LF or NUL at `at`
  | { readonly kind: 'message'; readonly at: number } // the next message starts at `at` (no delimiter)
  | { readonly kind: 'undecided'; readonly at: number } // maybe a message start: wait for more bytes
  | { readonly kind: 'open' }; // runs past the chunk

function pieceEnd(data: Buffer, i: number, final: boolean): PieceEnd {
  const nl = data.indexOf(LF, i);
  let stop = nl === -1 ? data.length : nl;
  let delimiter = LF;
  // One view of the piece for every search (a subarray per search was a Buffer object each).
  let piece = data.subarray(i, stop);
  const z = piece.indexOf(NUL);
  if (z !== -1) {
    stop = i + z;
    delimiter = NUL;
    piece = piece.subarray(0, z);
  }
  for (let lt = piece.indexOf(LT); lt !== -1; lt = piece.indexOf(LT, lt + 1)) {
    const starts = startsMessage(data, i + lt);
    if (starts === true) return { kind: 'message', at: i + lt };
    if (starts === undefined && !final) return { kind: 'undecided', at: i + lt };
  }
  return stop < data.length ? { kind: 'delimiter', at: stop, delimiter } : { kind: 'open' };
}

/** Shared: the start state carries no data, so one object serves every frame boundary. */
const START: Mode = { kind: 'start' };

type Mode =
  | { kind: 'start' } // at a frame boundary; `head` holds the bytes read so far (≤ 9)
  | { kind: 'lf'; continuation: boolean } // inside an LF piece
  | { kind: 'octet'; remaining: number } // inside an octet-counted frame
  | { kind: 'skip'; remaining: number } // skipping an oversize octet-counted frame
  | { kind: 'resync' }; // discarding junk up to the next LF

/** A completed LF frame kept until we know whether the next piece belongs to it. */
interface Pending {
  pieces: Buffer[];
  /** The delimiter (LF or NUL) after each piece but the last, restored when they are joined. */
  delimiters: number[];
  /** What ended the last piece; becomes a joint if a continuation follows. */
  ended: number;
  /** Bytes of the joined message (pieces + the LFs between them). */
  size: number;
  truncated: boolean;
}

/** A growable byte buffer capped at its limit; avoids one small Buffer per byte-at-a-time chunk. */
class Accumulator {
  private buf: Buffer = Buffer.alloc(0);
  length = 0;

  constructor(private readonly limit: number) {}

  add(src: Buffer): void {
    if (src.length === 0) return;
    const need = this.length + src.length;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, Math.min(this.limit, 2 * this.buf.length, 256 + need)));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    src.copy(this.buf, this.length);
    this.length = need;
  }

  /** Hands over the bytes and starts afresh. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.length);
    this.buf = Buffer.alloc(0);
    this.length = 0;
    return out;
  }

  clear(): void {
    this.buf = Buffer.alloc(0);
    this.length = 0;
  }
}

/**
 * Per-connection framer. `push()` returns frames completed by the chunk; an LF frame is held
 * until the next frame starts, `flushPending()` (quiet connection) or `end()`.
 * Memory is bounded by about 2 × maxMessageBytes whatever the peer sends.
 */
export class StreamFramer {
  private readonly max: number;
  private readonly maxCont: number;
  private readonly onDrop: (reason: FrameDropReason) => void;

  private mode: Mode = START;
  private head: number[] = [];
  /** Bytes of the LF piece or octet frame being read. */
  private readonly acc: Accumulator;
  /** The LF piece being read was cut and emitted; discard up to LF. */
  private cut = false;
  private pending: Pending | undefined;
  /** The last few bytes of a chunk that may start a message, kept for the next chunk. */
  private carry: Buffer | undefined;
  /** This connection sends messages back to back without a delimiter (seen once). */
  private undelimited = false;

  constructor(opts: FramerOptions) {
    this.max = opts.maxMessageBytes;
    this.maxCont = opts.maxContinuationLines;
    this.onDrop = opts.onDrop ?? (() => {});
    this.acc = new Accumulator(this.max);
  }

  push(chunk: Buffer): Frame[] {
    const out: Frame[] = [];
    let data = chunk;
    if (this.carry) {
      data = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    this.consume(data, out);
    return out;
  }

  /**
   * Releases a held LF frame when the framer sits exactly at a frame boundary, and on a
   * connection known to send without delimiters, the message being read.
   */
  flushPending(): Frame[] {
    const out: Frame[] = [];
    if (this.mode.kind === 'lf' && this.undelimited && !this.cut) {
      this.takeCarry(out);
      this.finishPiece(out);
      this.mode = START;
    }
    if (this.mode.kind === 'start' && this.head.length === 0) this.release(out);
    return out;
  }

  /** True when a frame is held back (the receiver arms its quiet timer on this). */
  hasPending(): boolean {
    return this.pending !== undefined || (this.undelimited && this.mode.kind === 'lf');
  }

  /** End of stream: whatever forms a message is emitted; an incomplete octet frame is dropped. */
  end(): Frame[] {
    const out: Frame[] = [];
    this.takeCarry(out);
    if (this.mode.kind === 'start' && this.head.length > 0) {
      // A length never followed by its space and message is not a length.
      const head = Buffer.from(this.head);
      this.head = [];
      this.notACount(head, out);
    }
    if (this.mode.kind === 'lf') this.finishPiece(out);
    else if (this.mode.kind === 'octet') this.onDrop('bad_frame');
    this.release(out);
    this.mode = START;
    this.head = [];
    this.acc.clear();
    this.cut = false;
    return out;
  }

  /** Bytes held in memory (for tests and bounds checks). */
  bufferedBytes(): number {
    return this.head.length + this.acc.length + (this.pending?.size ?? 0) + (this.carry?.length ?? 0);
  }

  /** No more bytes will come to decide the carried ones: read them as they are. */
  private takeCarry(out: Frame[]): void {
    const c = this.carry;
    if (!c) return;
    this.carry = undefined;
    this.consume(c, out, true);
  }

  private consume(data: Buffer, out: Frame[], final = false): void {
    let i = 0;
    while (i < data.length) {
      const m = this.mode;
      switch (m.kind) {
        case 'start': {
          // Fast path, nearly every line: `<` at a boundary and the whole line in this chunk.
          // Same outcome as the byte-wise path (hold it as a new LF frame), without copying.
          if (data[i] === LT && this.head.length === 0) {
            const e = pieceEnd(data, i + 1, final);
            if ((e.kind === 'delimiter' || e.kind === 'message') && e.at - i <= this.max) {
              this.release(out);
              const ended = e.kind === 'delimiter' ? e.delimiter : LF;
              this.pending = { pieces: [data.subarray(i, e.at)], delimiters: [], ended, size: e.at - i, truncated: false };
              if (e.kind === 'message') this.undelimited = true;
              i = e.kind === 'delimiter' ? e.at + 1 : e.at;
              break;
            }
          }
          i = this.readHead(data, i, out);
          break;
        }
        case 'lf': {
          const e = pieceEnd(data, i, final);
          if (e.kind === 'open') {
            this.append(data.subarray(i), out);
            return;
          }
          this.append(data.subarray(i, e.at), out);
          if (e.kind === 'undecided') {
            this.carry = data.subarray(e.at);
            return;
          }
          this.finishPiece(out, e.kind === 'delimiter' ? e.delimiter : LF);
          this.mode = START;
          if (e.kind === 'message') this.undelimited = true;
          i = e.kind === 'delimiter' ? e.at + 1 : e.at;
          break;
        }
        case 'octet': {
          if (this.acc.length === 0 && m.remaining <= data.length - i) {
            // The whole octet-counted frame is in this chunk: no copy.
            this.emitOctet(data.subarray(i, i + m.remaining), out);
            i += m.remaining;
            this.mode = START;
            break;
          }
          const n = Math.min(m.remaining, data.length - i);
          this.acc.add(data.subarray(i, i + n));
          m.remaining -= n;
          i += n;
          if (m.remaining === 0) {
            this.emitOctet(this.acc.take(), out);
            this.mode = START;
          }
          break;
        }
        case 'skip': {
          const n = Math.min(m.remaining, data.length - i);
          m.remaining -= n;
          i += n;
          if (m.remaining === 0) this.mode = START;
          break;
        }
        case 'resync': {
          const nl = data.indexOf(LF, i);
          const z = data.subarray(i, nl === -1 ? data.length : nl).indexOf(NUL);
          const stop = z !== -1 ? i + z : nl;
          if (stop === -1) return;
          this.mode = START;
          i = stop + 1;
          break;
        }
      }
    }
  }

  /** Reads the first bytes of a frame until its kind is known; returns the next index. */
  private readHead(data: Buffer, i: number, out: Frame[]): number {
    while (i < data.length) {
      const b = data[i]!;
      i++;
      if (this.head.length === 0) {
        if (b === LT) {
          this.release(out);
          this.startPiece(false);
          this.acc.add(Buffer.from([b]));
          return i;
        }
        if (b === LF || b === NUL) {
          this.emptyPiece(out, b);
          return i;
        }
        if (!isDigit(b)) {
          this.notACount(Buffer.from([b]), out);
          return i;
        }
        this.head.push(b);
        continue;
      }
      const digits = this.countDigits();
      if (digits === this.head.length) {
        if (isDigit(b) && digits < MAX_COUNT_DIGITS) {
          this.head.push(b);
          continue;
        }
        if (b === SP && this.head[0] !== ZERO) {
          this.head.push(b);
          // With an LF frame held, "<digits> " may be the rest of a binary IKE-ID (0x0A then
          // "1 "): take it as a length only if the message after it starts like one.
          if (this.pending === undefined) {
            this.startOctet(out);
            return i;
          }
          continue;
        }
      } else if (b === LT) {
        this.startOctet(out);
        return i - 1; // the `<` is the message's first byte
      }
      // Not a valid length after all: hand the bytes to the piece logic.
      const head = Buffer.from([...this.head, b]);
      this.head = [];
      this.notACount(head, out);
      return i;
    }
    return i;
  }

  private countDigits(): number {
    let n = 0;
    while (n < this.head.length && isDigit(this.head[n]!)) n++;
    return n;
  }

  /** `head` is `<digits><SP>`. */
  private startOctet(out: Frame[]): void {
    const len = Number(String.fromCharCode(...this.head.slice(0, this.countDigits())));
    this.head = [];
    this.release(out);
    if (len > this.max) {
      // Skipped by counting, never buffered.
      this.onDrop('oversize');
      this.mode = { kind: 'skip', remaining: len };
    } else {
      this.acc.clear();
      this.mode = { kind: 'octet', remaining: len };
    }
  }

  /** Bytes at a frame boundary that are not a frame start: a continuation, or junk. */
  private notACount(bytes: Buffer, out: Frame[]): void {
    if (this.canContinue()) {
      this.startPiece(true);
    } else {
      this.release(out);
      this.onDrop('bad_frame');
      this.mode = { kind: 'resync' };
    }
    // The bytes may themselves end the piece or the junk (e.g. "12\n").
    this.consume(bytes, out, true); // no carrying inside a head: the bytes after it are not here
  }

  private canContinue(): boolean {
    return this.pending !== undefined && this.pending.pieces.length <= this.maxCont;
  }

  /** An LF or NUL right at a frame boundary: an empty piece of a held frame (0x0A 0x0A), or a blank line. */
  private emptyPiece(out: Frame[], delimiter: number): void {
    if (this.canContinue()) {
      const p = this.pending!;
      p.pieces.push(Buffer.alloc(0));
      p.delimiters.push(p.ended);
      p.ended = delimiter;
      p.size += 1;
    } else {
      this.release(out);
    }
  }

  private startPiece(continuation: boolean): void {
    this.mode = { kind: 'lf', continuation };
    this.acc.clear();
    this.cut = false;
  }

  /** Room left for the current piece within maxMessageBytes. */
  private room(): number {
    const m = this.mode;
    const joined = m.kind === 'lf' && m.continuation && this.pending ? this.pending.size + 1 : 0;
    return Math.max(0, this.max - joined - this.acc.length);
  }

  private append(bytes: Buffer, out: Frame[]): void {
    if (this.cut || bytes.length === 0) return;
    const room = this.room();
    if (bytes.length <= room) {
      this.acc.add(bytes);
      return;
    }
    this.acc.add(bytes.subarray(0, room));
    // Nothing more can join a cut message, so emit it now (a never-ending line must not
    // delay it) and discard the rest up to LF.
    this.completePiece(out);
    this.pending!.truncated = true;
    this.release(out);
    this.cut = true;
  }

  /** Delimiter seen (LF or NUL), the next message started, or end of stream. */
  private finishPiece(out: Frame[], delimiter = LF): void {
    if (this.cut) {
      this.cut = false; // the LF that ends the discarded tail of a cut piece
      return;
    }
    this.completePiece(out, delimiter);
  }

  /** Moves the current piece into the held frame (a new one, or joined to the held one). */
  private completePiece(out: Frame[], delimiter = LF): void {
    const m = this.mode;
    const piece = this.acc.take();
    if (m.kind === 'lf' && m.continuation && this.pending) {
      const p = this.pending;
      p.pieces.push(piece);
      p.delimiters.push(p.ended);
      p.ended = delimiter;
      p.size += 1 + piece.length;
    } else {
      this.release(out);
      this.pending = { pieces: [piece], delimiters: [], ended: delimiter, size: piece.length, truncated: false };
    }
  }

  private emitOctet(frame: Buffer, out: Frame[]): void {
    const bytes = stripLineEnd(frame);
    if (bytes.length > 0) out.push({ bytes, truncated: false, continuations: 0 });
  }

  /** Emits the held LF frame, if any. */
  private release(out: Frame[]): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    // Trailing empty pieces were blank lines, not parts of the message.
    const pieces = p.pieces;
    while (pieces.length > 1 && isBlank(pieces[pieces.length - 1]!)) pieces.pop();
    let bytes: Buffer;
    if (pieces.length === 1) bytes = pieces[0]!;
    else {
      // Only a message carrying a binary 0x0A or 0x00 comes here: join its pieces with the bytes between them.
      const joined: Buffer[] = [];
      for (let k = 0; k < pieces.length; k++) {
        if (k > 0) joined.push(p.delimiters[k - 1] === NUL ? NUL_BUF : LF_BUF);
        joined.push(pieces[k]!);
      }
      bytes = Buffer.concat(joined);
    }
    if (bytes.length > this.max) bytes = bytes.subarray(0, this.max);
    // CRLF framing: the CR belongs to the line end. A CR inside a joined message (binary
    // 0x0D 0x0A) survives, since only the end of the whole message is stripped.
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    if (bytes.length > 0) out.push({ bytes, truncated: p.truncated, continuations: pieces.length - 1 });
  }
}

const LF_BUF = Buffer.from([LF]);
const NUL_BUF = Buffer.from([NUL]);
const isBlank = (b: Buffer) => b.length === 0 || (b.length === 1 && b[0] === CR);

/** Strips one trailing LF or CRLF. */
function stripLineEnd(b: Buffer): Buffer {
  let n = b.length;
  if (n > 0 && b[n - 1] === LF) {
    n--;
    if (n > 0 && b[n - 1] === CR) n--;
  }
  return n === b.length ? b : b.subarray(0, n);
}

/**
 * One UDP datagram is one message: strip one trailing LF, CRLF or NUL, then cut at the limit.
 * The returned buffer may share memory with the datagram.
 */
export function frameDatagram(datagram: Buffer, maxMessageBytes: number): { bytes: Buffer; truncated: boolean } {
  let n = datagram.length;
  const last = n > 0 ? datagram[n - 1] : undefined;
  if (last === 0) n--;
  else if (last === LF) {
    n--;
    if (n > 0 && datagram[n - 1] === CR) n--;
  }
  const truncated = n > maxMessageBytes;
  if (truncated) n = maxMessageBytes;
  return { bytes: n === datagram.length ? datagram : datagram.subarray(0, n), truncated };
}
