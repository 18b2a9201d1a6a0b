// Batched UDP reads (Linux): a native socket (native/udp_recvmmsg.c, built at install into
// build/native/udp_recvmmsg.node) reads up to BATCH_SLOTS datagrams per recvmmsg(2) call into
// memory this module owns, and calls JavaScript once per batch. Node's dgram makes a Buffer, a
// rinfo object and a callback per datagram; under a flood that costs the receive thread three to
// four times what the datagrams themselves do (`npm run bench:mixed`).
//
// A datagram's bytes are a view of the batch memory: valid until the handler returns, overwritten
// by the next batch. Whoever keeps one copies it (`retainBytes`, src/ingest/receiver.ts).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { unmapIp } from '../net/cidr.js';
import { isV6Bind } from './receiver.js';

/** uint32 words of per-datagram metadata; must match META_WORDS in native/udp_recvmmsg.c. */
const META_WORDS = 32;
/** Where the source address's text starts (words), and its length's word. */
const TEXT_WORD = 9;
const TEXT_LENGTH_WORD = 8;
/** Datagrams per recvmmsg call. */
export const BATCH_SLOTS = 64;
/** recvmmsg calls per wakeup at most, so one busy socket cannot hold the thread's other work. */
export const BATCHES_PER_WAKEUP = 4;
/** Bytes read past maxMessageBytes: a trailing CRLF still fits, so it is stripped, not cut. */
const SLACK_BYTES = 2;
/** No UDP datagram is longer (65,535 less the UDP header), so no slot needs more. */
const MAX_DATAGRAM_BYTES = 65536;

/** The built addon's path (both from src/ and from dist/: two levels below the package root). */
export const ADDON_PATH = fileURLToPath(new URL('../../build/native/udp_recvmmsg.node', import.meta.url));

interface NativeSocket {
  readonly port: number;
  /** As the kernel reports it (Linux: twice the grant). */
  readonly receiveBufferBytes: number;
  close(): void;
}

interface OpenOptions {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
  readonly receiveBufferBytes: number;
  readonly slots: number;
  readonly slotBytes: number;
  readonly maxBatches: number;
  readonly data: Uint8Array;
  readonly meta: Uint32Array;
  readonly onBatch: (count: number) => void;
  readonly onError: (code: string) => void;
}

export interface BatchBinding {
  open(options: OpenOptions): NativeSocket;
  readonly metaWords: number;
}

export type BatchReads = { readonly binding: BatchBinding } | { readonly binding?: undefined; readonly reason: string };

let loaded: BatchReads | undefined;

/** The addon, loaded once; or why it cannot be (not Linux, not built, built for another Node). */
export function loadBatchReads(): BatchReads {
  loaded ??= load();
  return loaded;
}

function load(): BatchReads {
  if (process.platform !== 'linux') return { reason: `recvmmsg is Linux only (this is ${process.platform})` };
  try {
    const binding = createRequire(import.meta.url)(ADDON_PATH) as BatchBinding;
    if (binding.metaWords !== META_WORDS)
      return { reason: `${ADDON_PATH} is from another release (rebuild it: npm run build:native)` };
    return { binding };
  } catch (e) {
    return {
      reason: `${ADDON_PATH} cannot be loaded (${(e as Error).message.split('\n')[0]}); build it: npm run build:native (needs cc)`,
    };
  }
}

/** One datagram: its bytes (a view, valid during the call), sender, and whether the kernel cut it. */
export type DatagramHandler = (bytes: Buffer, sourceIp: string, sourcePort: number, cut: boolean, receivedAt: number) => void;

export interface BatchSocketOptions {
  readonly address: string;
  readonly port: number;
  readonly receiveBufferBytes: number;
  readonly maxMessageBytes: number;
}

export interface BatchSocket {
  readonly port: number;
  readonly receiveBufferBytes: number;
  close(): void;
}

/**
 * Binds `opts.address:port` with batched reads and hands every datagram to `onDatagram`, each
 * batch stamped once with `now()`. A datagram longer than maxMessageBytes + 2 arrives cut there
 * (`cut`); slots hold at most 64 KiB, the longest datagram, whatever maxMessageBytes allows.
 * Throws an Error whose `code` is the errno name (EADDRINUSE …) when it cannot bind.
 */
export function openBatchSocket(
  binding: BatchBinding,
  opts: BatchSocketOptions,
  now: () => number,
  onDatagram: DatagramHandler,
  onError: (code: string) => void,
): BatchSocket {
  const slotBytes = Math.min(opts.maxMessageBytes + SLACK_BYTES, MAX_DATAGRAM_BYTES);
  const data = new Uint8Array(BATCH_SLOTS * slotBytes);
  const meta = new Uint32Array(BATCH_SLOTS * META_WORDS);
  const bytes = Buffer.from(data.buffer);
  const metaBytes = Buffer.from(meta.buffer);
  const source = sourceCache(meta, metaBytes);
  const onBatch = (count: number) => {
    const receivedAt = now();
    for (let i = 0; i < count; i++) {
      const m = i * META_WORDS;
      const start = i * slotBytes;
      onDatagram(bytes.subarray(start, start + meta[m]!), source(m), meta[m + 2]!, meta[m + 1] === 1, receivedAt);
    }
  };
  return binding.open({
    address: opts.address,
    port: opts.port,
    family: isV6Bind(opts.address) ? 6 : 4,
    receiveBufferBytes: opts.receiveBufferBytes,
    slots: BATCH_SLOTS,
    slotBytes,
    maxBatches: BATCHES_PER_WAKEUP,
    data,
    meta,
    onBatch,
    onError,
  });
}

/**
 * The sender's address text for the datagram whose metadata starts at word `m`. Senders repeat
 * (a few firewalls), so the text is decoded only when the address bytes differ from the last one.
 */
function sourceCache(meta: Uint32Array, metaBytes: Buffer): (m: number) => string {
  let family = -1;
  let a0 = -1;
  let a1 = -1;
  let a2 = -1;
  let a3 = -1;
  let text = '';
  return (m) => {
    if (meta[m + 4] === a0 && meta[m + 5] === a1 && meta[m + 6] === a2 && meta[m + 7] === a3 && meta[m + 3] === family)
      return text;
    family = meta[m + 3]!;
    a0 = meta[m + 4]!;
    a1 = meta[m + 5]!;
    a2 = meta[m + 6]!;
    a3 = meta[m + 7]!;
    const at = (m + TEXT_WORD) * 4;
    text = unmapIp(metaBytes.toString('latin1', at, at + meta[m + TEXT_LENGTH_WORD]!));
    return text;
  };
}
