// UDP syslog: one datagram is one message. One socket per bind address; IPv6 sockets are
// ipv6Only so `0.0.0.0` and `::` can share a port. The receive buffer is the main defence
// against loss in bursts, so the size the kernel really granted is reported.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { PtimError } from '../errors.js';
import type { Emit } from '../events.js';
import type { Logger } from '../log.js';
import { listening } from '../net/listening.js';
import { unmapIp } from '../net/cidr.js';
import { frameDatagram } from './framing.js';
import {
  guardSink,
  isV6Bind,
  receiverEvents,
  openAll,
  type ListenerAddress,
  type Receiver,
  type ReceiverContext,
} from './receiver.js';

export interface UdpOptions {
  readonly bind: readonly string[];
  readonly port: number;
  readonly receiveBufferBytes: number;
  readonly maxMessageBytes: number;
}

/** Counts each datagram from an allowed sender and hands it to the sink as one message. */
function datagramHandler(opts: UdpOptions, ctx: ReceiverContext, emit: Emit) {
  const { metrics, clock, policy, rejections } = ctx;
  const sink = guardSink(ctx.sink, emit);
  const received = metrics.received.labels({ transport: 'udp' });
  const receivedBytes = metrics.receivedBytes.labels({ transport: 'udp' });
  const truncated = metrics.truncated.labels({ transport: 'udp' });
  const empty = metrics.dropped.labels({ transport: 'udp', reason: 'bad_frame' });
  return (msg: Buffer, rinfo: RemoteInfo) => {
    const sourceIp = unmapIp(rinfo.address);
    const verdict = policy.check(sourceIp);
    if (!verdict.allowed) {
      rejections.reject('udp', sourceIp);
      return;
    }
    const f = frameDatagram(msg, opts.maxMessageBytes);
    if (f.bytes.length === 0) {
      empty.inc();
      return;
    }
    received.inc();
    receivedBytes.inc(f.bytes.length);
    if (f.truncated) truncated.inc();
    sink({
      bytes: f.bytes,
      transport: 'udp',
      sourceIp,
      sourcePort: rinfo.port,
      receivedAt: clock.now(),
      truncated: f.truncated,
      ...(verdict.firewall === undefined ? {} : { firewall: verdict.firewall }),
    });
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

/** One bound socket for `address`; PTIM_ERR_BIND when it cannot be bound. */
async function bindUdp(
  address: string,
  opts: UdpOptions,
  onMessage: (msg: Buffer, rinfo: RemoteInfo) => void,
  ctx: ReceiverContext,
  emit: Emit,
): Promise<{ socket: Socket; address: ListenerAddress }> {
  const v6 = isV6Bind(address);
  const socket = createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6, recvBufferSize: opts.receiveBufferBytes });
  try {
    await listening(socket, () => socket.bind({ address, port: opts.port }));
  } catch (e) {
    socket.close();
    throw new PtimError('PTIM_ERR_BIND', `cannot bind UDP ${address} port ${opts.port}: ${(e as Error).message}`);
  }
  socket.on('error', (err) => emit('syslog_socket_error', { transport: 'udp', address, err }));
  socket.on('message', onMessage);
  const a = socket.address();
  const granted = grantedBuffer(socket);
  checkBuffer(granted, opts.receiveBufferBytes, { address: a.address, port: a.port }, ctx.logger);
  ctx.logger.info({ transport: 'udp', address: a.address, port: a.port, receiveBufferBytes: granted }, 'syslog UDP listening');
  const entry: ListenerAddress = {
    transport: 'udp',
    address: a.address,
    family: v6 ? 'IPv6' : 'IPv4',
    port: a.port,
    ...(granted === undefined ? {} : { receiveBufferBytes: granted }),
  };
  return { socket, address: entry };
}

export function createUdpReceiver(opts: UdpOptions, ctx: ReceiverContext): Receiver {
  const emit = receiverEvents(ctx);
  const onMessage = datagramHandler(opts, ctx, emit);
  let sockets: { socket: Socket; address: ListenerAddress }[] = [];
  return {
    async start() {
      if (sockets.length > 0) return;
      sockets = await openAll(
        opts.bind,
        (address) => bindUdp(address, opts, onMessage, ctx, emit),
        (b) => closeSocket(b.socket),
      );
    },
    async stop() {
      const s = sockets;
      sockets = [];
      await Promise.all(s.map((b) => closeSocket(b.socket)));
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
