// TCP and TLS syslog (RFC 6587 framing, RFC 5425 TLS): admission (allow-list, connection
// table), one StreamConnection per admitted socket, and a clean stop. Both transports share
// this code. Admission runs on the raw TCP connection, before any TLS handshake work.
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { PtimError } from '../errors.js';
import { listening } from '../net/listening.js';
import { unmapIp } from '../net/cidr.js';
import type { ConnectionTable } from './connections.js';
import type { Frame } from './framing.js';
import { connectionOutcomes, type ReportOutcome } from './outcomes.js';
import {
  guardSink,
  isV6Bind,
  receiverEvents,
  openAll,
  type ListenerAddress,
  type Receiver,
  type ReceiverContext,
} from './receiver.js';
import { StreamConnection, type StreamConnectionOptions } from './stream-connection.js';

export interface StreamOptions extends Omit<StreamConnectionOptions, 'tls'> {
  readonly transport: 'tcp' | 'tls';
  readonly bind: readonly string[];
  readonly port: number;
  /** After stop(), connections get this long to close before they are destroyed. */
  readonly shutdownGraceMs: number;
  /** Shared by every stream listener so the limits bound the process as a whole. */
  readonly table: ConnectionTable;
  /** TLS only. */
  readonly tls?: {
    readonly cert: Buffer;
    readonly key: Buffer;
    readonly ca?: Buffer;
    readonly requireClientCert: boolean;
    readonly handshakeTimeoutMs: number;
  };
}

const connKey = (s: Socket) => `${s.remoteAddress ?? ''}|${s.remotePort ?? 0}`;

/** Counts each complete frame and hands it to the sink with its sender. */
function frameEmitter(transport: 'tcp' | 'tls', ctx: ReceiverContext) {
  const { metrics, clock } = ctx;
  const sink = guardSink(ctx.sink, receiverEvents(ctx));
  const received = metrics.received.labels({ transport });
  const receivedBytes = metrics.receivedBytes.labels({ transport });
  const truncated = metrics.truncated.labels({ transport });
  const continuations = metrics.continuations.labels({ transport });
  return (f: Frame, conn: StreamConnection, firewall: string | undefined) => {
    received.inc();
    receivedBytes.inc(f.bytes.length);
    if (f.truncated) truncated.inc();
    if (f.continuations > 0) continuations.inc(f.continuations);
    sink({
      bytes: f.bytes,
      transport,
      sourceIp: conn.source,
      sourcePort: conn.sourcePort,
      receivedAt: clock.now(),
      truncated: f.truncated,
      ...(firewall === undefined ? {} : { firewall }),
    });
  };
}

/** The listening socket; for TLS, handshakes are matched back to their admitted connection. */
function makeServer(opts: StreamOptions, handshaking: Map<string, StreamConnection>): Server {
  if (!opts.tls) return createServer();
  const t = opts.tls;
  const server = createTlsServer({
    cert: t.cert,
    key: t.key,
    ...(t.ca ? { ca: t.ca } : {}),
    requestCert: t.requireClientCert,
    rejectUnauthorized: t.requireClientCert,
    handshakeTimeout: t.handshakeTimeoutMs,
  });
  server.on('secureConnection', (tlsSocket: TLSSocket) => {
    const conn = handshaking.get(connKey(tlsSocket));
    if (!conn) {
      tlsSocket.destroy(); // admission refused it meanwhile
      return;
    }
    handshaking.delete(connKey(tlsSocket));
    conn.attach(tlsSocket);
  });
  // Only noted here: after a reset the TLS socket no longer knows its peer, so the connection
  // (which does) reports the failure with its source when it closes.
  server.on('tlsClientError', (err, sock) => {
    const conn = handshaking.get(connKey(sock));
    if (conn) conn.tlsError = { message: err.message, code: (err as NodeJS.ErrnoException).code };
    sock.destroy(); // a handshake timeout leaves the socket open otherwise
  });
  return server;
}

/**
 * The live connections of one listener: admission (allow-list, shutdown, connection table),
 * TLS handshakes waiting to be matched, and the gauge.
 */
function connectionSet(opts: StreamOptions, ctx: ReceiverContext) {
  const { transport } = opts;
  const { metrics, logger, clock, policy, rejections } = ctx;
  const now = () => clock.now();
  const report: ReportOutcome = connectionOutcomes({ metrics, logger, transport, now });
  const emit = frameEmitter(transport, ctx);
  const gauge = metrics.connections.labels({ transport });
  const events = receiverEvents(ctx);
  const conns = new Set<StreamConnection>();
  const handshaking = new Map<string, StreamConnection>();
  const firewalls = new WeakMap<StreamConnection, string>();
  const keys = new WeakMap<StreamConnection, string>();
  const state = { stopping: false };

  const connDeps = {
    now,
    report,
    stopping: () => state.stopping,
    emit: (f: Frame, c: StreamConnection) => emit(f, c, firewalls.get(c)),
    onDrop: (reason: string) => metrics.dropped.inc({ transport, reason }),
    onClosed: (c: StreamConnection) => {
      handshaking.delete(keys.get(c) ?? '');
      if (conns.delete(c)) gauge.dec();
      opts.table.release(c);
    },
  };

  /** The admitted connection, or undefined (refusal already counted). */
  const admit = (raw: Socket): StreamConnection | undefined => {
    if (raw.remoteAddress === undefined) return undefined; // reset before we got to it
    const source = unmapIp(raw.remoteAddress);
    const verdict = policy.check(source);
    if (!verdict.allowed) {
      rejections.reject(transport, source);
      return undefined;
    }
    if (state.stopping) {
      report('shutdown', source);
      return undefined;
    }
    const conn = new StreamConnection(raw, source, verdict.firewall !== undefined, { ...opts, tls: !!opts.tls }, connDeps);
    const a = opts.table.admit(conn);
    if (!a.admitted) {
      conn.close(a.reason); // counted and logged once, as this outcome (not as a TLS failure)
      return undefined;
    }
    if (a.evicted instanceof StreamConnection) a.evicted.close('evicted');
    if (verdict.firewall !== undefined) firewalls.set(conn, verdict.firewall);
    return conn;
  };

  const accept = (raw: Socket) => {
    // Resets and half-finished handshakes are routine; never fatal.
    raw.on('error', (err) => events('syslog_connection_error', { transport, err }));
    const conn = admit(raw);
    if (!conn) {
      raw.destroy();
      return;
    }
    gauge.inc();
    conns.add(conn);
    if (opts.tls) {
      keys.set(conn, connKey(raw));
      handshaking.set(connKey(raw), conn);
    } else conn.attach(raw);
  };

  return { state, conns, handshaking, accept };
}

export function createStreamReceiver(opts: StreamOptions, ctx: ReceiverContext): Receiver {
  const { transport } = opts;
  const { logger } = ctx;
  const live = connectionSet(opts, ctx);
  const emitListener = receiverEvents(ctx);
  let servers: { server: Server; address: ListenerAddress }[] = [];

  const listenOne = async (address: string) => {
    const server = makeServer(opts, live.handshaking);
    // Runs after tls.Server's own listener has wrapped the socket; destroying `raw` ends both.
    server.on('connection', live.accept);
    try {
      await listening(server, () => server.listen({ host: address, port: opts.port, ipv6Only: isV6Bind(address) }));
    } catch (e) {
      server.close();
      throw new PtimError(
        'PTIM_ERR_BIND',
        `cannot listen on ${transport.toUpperCase()} ${address} port ${opts.port}: ${(e as Error).message}`,
      );
    }
    server.on('error', (err) => emitListener('syslog_socket_error', { transport, address, err }));
    const a = server.address();
    if (!a || typeof a === 'string') throw new PtimError('PTIM_ERR_BIND', `no address for ${transport} ${address}`);
    logger.info({ transport, address: a.address, port: a.port }, `syslog ${transport.toUpperCase()} listening`);
    const entry: ListenerAddress = { transport, address: a.address, family: isV6Bind(address) ? 'IPv6' : 'IPv4', port: a.port };
    return { server, address: entry };
  };

  return {
    async start() {
      if (servers.length > 0) return;
      live.state.stopping = false;
      servers = await openAll(opts.bind, listenOne, (s) => closeServer(s.server));
    },

    async stop() {
      live.state.stopping = true;
      const s = servers;
      servers = [];
      const serversClosed = Promise.all(s.map((x) => closeServer(x.server)));
      await closeConnections([...live.conns], opts.shutdownGraceMs, (c) => c.close('shutdown'));
      await serversClosed;
    },

    addresses: () => servers.map((s) => s.address),
  };
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/**
 * Half-closes every connection (a well-behaved sender finishes its last message and closes),
 * then after the grace period closes the rest, counted as `shutdown`.
 */
async function closeConnections(open: StreamConnection[], graceMs: number, force: (c: StreamConnection) => void): Promise<void> {
  for (const c of open) {
    if (c.stream) c.stream.end();
    else c.raw.destroy(); // still in its TLS handshake: nothing to finish
  }
  let grace: NodeJS.Timeout | undefined;
  const graceOver = new Promise<void>((resolve) => {
    grace = setTimeout(resolve, graceMs);
  });
  await Promise.race([Promise.all(open.map((c) => c.closed)), graceOver]);
  clearTimeout(grace);
  for (const c of open) if (!c.raw.destroyed) force(c);
  await Promise.all(open.map((c) => c.closed));
}
