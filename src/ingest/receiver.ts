// The contract every receiver (UDP, TCP, TLS) implements, and what they share.
import { createEvents, type Emit } from '../events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock, RawMessage, Transport } from '../types.js';
import type { Rejections } from './rejections.js';
import type { SourcePolicy } from './sources.js';

/**
 * Receives each framed message synchronously; must not throw (a throw is caught and logged).
 * `raw.bytes` is valid only during the call (batched UDP reads reuse their memory): a sink that
 * keeps the message keeps `retainBytes(raw)`.
 */
export type MessageSink = (raw: RawMessage) => void;

/** The message with its own copy of the bytes, for a sink that keeps it past the call. */
export const retainBytes = (raw: RawMessage): RawMessage => Object.assign({}, raw, { bytes: Buffer.from(raw.bytes) });

/** How a UDP socket is read (`ingest.udp.reader`): batched recvmmsg calls, or Node's dgram. */
export type UdpReader = 'recvmmsg' | 'dgram';

export interface ListenerAddress {
  readonly transport: Transport;
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly port: number;
  /** UDP only: the receive buffer the kernel actually granted (Linux reports twice the request, capped by rmem_max). */
  readonly receiveBufferBytes?: number;
  /** UDP only: how the socket is read. */
  readonly reader?: UdpReader;
}

export interface Receiver {
  /** Binds every address; rejects with PtimError PTIM_ERR_BIND (nothing left bound) on failure. */
  start(): Promise<void>;
  /** Stops accepting, flushes framers, closes sockets. Idempotent. */
  stop(): Promise<void>;
  addresses(): ListenerAddress[];
}

/** What a receiver needs besides its own settings. */
export interface ReceiverContext {
  readonly sink: MessageSink;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly policy: SourcePolicy;
  readonly rejections: Rejections;
}

/** IPv6 literals bind with ipv6Only so `0.0.0.0` and `::` can both be bound on one port. */
export const isV6Bind = (address: string): boolean => address.includes(':');

/** The operational events of one receiver. */
export const receiverEvents = (ctx: ReceiverContext): Emit =>
  createEvents({ metrics: ctx.metrics, logger: ctx.logger, now: () => ctx.clock.now() });

/** Wraps the sink so a bug downstream cannot take a socket (or the process) down with it. */
export function guardSink(sink: MessageSink, emit: Emit): MessageSink {
  return (raw) => {
    try {
      sink(raw);
    } catch (err) {
      emit('syslog_handler_failed', { transport: raw.transport, err });
    }
  };
}

/**
 * Opens one listener per bind address, in order. If one fails, closes those already open and
 * rethrows, so a receiver whose start fails leaves nothing bound (the `start()` contract).
 */
export async function openAll<T>(
  addresses: readonly string[],
  open: (address: string) => Promise<T>,
  close: (opened: T) => Promise<void>,
): Promise<T[]> {
  const opened: T[] = [];
  try {
    for (const address of addresses) opened.push(await open(address));
  } catch (e) {
    await Promise.all(opened.map((o) => close(o)));
    throw e;
  }
  return opened;
}
