// UDP syslog: one datagram is one message. One socket per bind address; IPv6 sockets are
// ipv6Only so `0.0.0.0` and `::` can share a port. The receive buffer is the main defence
// against loss in bursts, so the size the kernel really granted is reported.
//
// Two readers (`ingest.udp.reader`): batched reads with recvmmsg (src/ingest/udp-batch.ts, the
// native addon; Linux) or Node's dgram, one callback per datagram. `auto` takes the first when
// the addon loads and says at start when it falls back.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { PtimError } from '../errors.js';
import type { Emit } from '../events.js';
import type { Logger } from '../log.js';
import { listening } from '../net/listening.js';
import { unmapIp } from '../net/cidr.js';
import type { Transport } from '../types.js';
import { frameDatagram } from './framing.js';
import {
  guardSink,
  isV6Bind,
  receiverEvents,
  openAll,
  type ListenerAddress,
  type Receiver,
  type ReceiverContext,
  type UdpReader,
} from './receiver.js';
import {
  BATCH_SLOTS,
  BATCHES_PER_WAKEUP,
  loadBatchReads,
  openBatchSocket,
  type BatchBinding,
  type BatchReads,
  type DatagramHandler,
} from './udp-batch.js';

export interface UdpOptions {
  readonly bind: readonly string[];
  readonly port: number;
  readonly receiveBufferBytes: number;
  readonly maxMessageBytes: number;
  /** `auto`: recvmmsg when the addon loads, else dgram; `recvmmsg`: the addon or no start. */
  readonly reader: UdpReader | 'auto';
}

/** libuv's limit on datagrams read from one UDP socket per wakeup (uv__udp_recvmsg). */
const DGRAM_DATAGRAMS_PER_WAKEUP = 32;
/** Datagrams one wakeup reads from one socket at most: libuv's limit, or the batches' (the read pacer's "drained" test). */
export const datagramsPerWakeup = (reader: UdpReader): number =>
  reader === 'recvmmsg' ? BATCH_SLOTS * BATCHES_PER_WAKEUP : DGRAM_DATAGRAMS_PER_WAKEUP;

const TRANSPORT: Transport = 'udp';

/** Counts each datagram from an allowed sender and hands it to the sink as one message. */
function datagramHandler(opts: UdpOptions, ctx: ReceiverContext, emit: Emit): DatagramHandler {
  const { metrics, policy, rejections } = ctx;
  const sink = guardSink(ctx.sink, emit);
  const received = metrics.received.labels({ transport: TRANSPORT });
  const receivedBytes = metrics.receivedBytes.labels({ transport: TRANSPORT });
  const truncated = metrics.truncated.labels({ transport: TRANSPORT });
  const empty = metrics.dropped.labels({ transport: TRANSPORT, reason: 'bad_frame' });
  const max = opts.maxMessageBytes;
  return (msg, sourceIp, sourcePort, cut, receivedAt) => {
    const verdict = policy.check(sourceIp);
    if (!verdict.allowed) {
      rejections.reject(TRANSPORT, sourceIp);
      return;
    }
    // Cut by the kernel: longer than max + 2 bytes, so longer than max whatever its last bytes.
    const f = cut ? { bytes: msg.subarray(0, max), truncated: true } : frameDatagram(msg, max);
    if (f.bytes.length === 0) {
      empty.inc();
      return;
    }
    received.inc();
    receivedBytes.inc(f.bytes.length);
    if (f.truncated) truncated.inc();
    const firewall = verdict.firewall;
    sink(
      firewall === undefined
        ? { bytes: f.bytes, transport: TRANSPORT, sourceIp, sourcePort, receivedAt, truncated: f.truncated }
        : { bytes: f.bytes, transport: TRANSPORT, sourceIp, sourcePort, receivedAt, truncated: f.truncated, firewall },
    );
  };
}

/** The receive buffer the kernel granted a socket, or undefined when it will not say. */
function grantedBuffer(socket: Socket): number | undefined {
  try {
    return socket.getRecvBufferSize();
  } catch {
    return undefined;
  }
}

/** The usable part of a receive buffer as the kernel reports it: Linux reports twice what it grants (the doubling covers its bookkeeping), capped by rmem_max. */
export const usableBuffer = (granted: number): number => (process.platform === 'linux' ? granted / 2 : granted);

/** Warns when the kernel granted less receive buffer than ingest.udp.receiveBufferBytes asks for. */
function checkBuffer(granted: number | undefined, requested: number, where: { address: string; port: number }, logger: Logger) {
  const usable = granted === undefined ? undefined : usableBuffer(granted);
  if (usable !== undefined && usable < requested)
    logger.warn(
      { ...where, requested, granted: usable, setting: 'ingest.udp.receiveBufferBytes' },
      'UDP receive buffer smaller than requested; raise net.core.rmem_max to avoid loss in bursts',
    );
}

/** A bound socket, either reader. */
interface BoundSocket {
  readonly address: ListenerAddress;
  close(): Promise<void>;
}

type Handle = { readonly handle: DatagramHandler; readonly emit: Emit; readonly ctx: ReceiverContext };

const bindError = (address: string, opts: UdpOptions, e: unknown) =>
  new PtimError('PTIM_ERR_BIND', `cannot bind UDP ${address} port ${opts.port}: ${(e as Error).message}`);

/** Logs the socket and warns when the kernel granted less buffer than asked; its listener entry. */
function announce(
  address: string,
  port: number,
  granted: number | undefined,
  reader: UdpReader,
  opts: UdpOptions,
  logger: Logger,
): ListenerAddress {
  checkBuffer(granted, opts.receiveBufferBytes, { address, port }, logger);
  logger.info({ transport: TRANSPORT, address, port, receiveBufferBytes: granted, reader }, 'syslog UDP listening');
  return {
    transport: TRANSPORT,
    address,
    family: isV6Bind(address) ? 'IPv6' : 'IPv4',
    port,
    reader,
    ...(granted === undefined ? {} : { receiveBufferBytes: granted }),
  };
}

/** One dgram socket for `address`, a callback per datagram; PTIM_ERR_BIND when it cannot be bound. */
async function bindDgram(address: string, opts: UdpOptions, { handle, emit, ctx }: Handle): Promise<BoundSocket> {
  const v6 = isV6Bind(address);
  const socket = createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6, recvBufferSize: opts.receiveBufferBytes });
  try {
    await listening(socket, () => socket.bind({ address, port: opts.port }));
  } catch (e) {
    socket.close();
    throw bindError(address, opts, e);
  }
  socket.on('error', (err) => emit('syslog_socket_error', { transport: TRANSPORT, address, err }));
  const { clock } = ctx;
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => handle(msg, unmapIp(rinfo.address), rinfo.port, false, clock.now()));
  const a = socket.address();
  return {
    address: announce(a.address, a.port, grantedBuffer(socket), 'dgram', opts, ctx.logger),
    close: () => closeSocket(socket),
  };
}

/** One recvmmsg socket for `address`, a callback per batch; PTIM_ERR_BIND when it cannot be bound. */
async function bindBatch(
  binding: BatchBinding,
  address: string,
  opts: UdpOptions,
  { handle, emit, ctx }: Handle,
): Promise<BoundSocket> {
  const onError = (code: string) =>
    emit('syslog_socket_error', { transport: TRANSPORT, address, err: Object.assign(new Error(`recvmmsg: ${code}`), { code }) });
  const s = (() => {
    try {
      return openBatchSocket(binding, { ...opts, address }, () => ctx.clock.now(), handle, onError);
    } catch (e) {
      throw bindError(address, opts, e);
    }
  })();
  return {
    address: announce(address, s.port, s.receiveBufferBytes, 'recvmmsg', opts, ctx.logger),
    close: async () => s.close(),
  };
}

type ReaderChoice = { reader: 'recvmmsg'; binding: BatchBinding } | { reader: 'dgram'; fallback?: string };

/**
 * What `setting` means on this machine: recvmmsg with the addon, or dgram (with the reason when
 * `auto` falls back). PTIM_ERR_UDP_READER when recvmmsg is required and the addon cannot load.
 */
export function resolveReader(setting: UdpOptions['reader'], load: () => BatchReads = loadBatchReads): ReaderChoice {
  if (setting === 'dgram') return { reader: 'dgram' };
  const loaded = load();
  if (loaded.binding) return { reader: 'recvmmsg', binding: loaded.binding };
  if (setting === 'recvmmsg')
    throw new PtimError(
      'PTIM_ERR_UDP_READER',
      `ingest.udp.reader is recvmmsg, but batched reads are unavailable: ${loaded.reason}`,
    );
  return { reader: 'dgram', fallback: loaded.reason };
}

/** resolveReader, saying so at start when `auto` falls back to dgram. */
export function chooseReader(
  setting: UdpOptions['reader'],
  logger: Logger,
  load: () => BatchReads = loadBatchReads,
): ReaderChoice {
  const chosen = resolveReader(setting, load);
  if (chosen.reader === 'dgram' && chosen.fallback !== undefined)
    logger.warn(
      { setting: 'ingest.udp.reader', reason: chosen.fallback },
      "batched UDP reads unavailable; reading with Node's dgram (more CPU per datagram)",
    );
  return chosen;
}

export function createUdpReceiver(opts: UdpOptions, ctx: ReceiverContext): Receiver {
  const emit = receiverEvents(ctx);
  const h: Handle = { handle: datagramHandler(opts, ctx, emit), emit, ctx };
  let sockets: BoundSocket[] = [];
  return {
    async start() {
      if (sockets.length > 0) return;
      const chosen = chooseReader(opts.reader, ctx.logger);
      // A scoped IPv6 address (fe80::1%eth0) is bound by Node's dgram, which resolves the scope.
      const bind = (address: string) =>
        chosen.reader === 'recvmmsg' && !address.includes('%')
          ? bindBatch(chosen.binding, address, opts, h)
          : bindDgram(address, opts, h);
      sockets = await openAll(
        opts.bind,
        (address) => bind(address),
        (b) => b.close(),
      );
    },
    async stop() {
      const s = sockets;
      sockets = [];
      await Promise.all(s.map((b) => b.close()));
    },
    addresses: () => sockets.map((s) => s.address),
  };
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}
