// TCP and TLS syslog (RFC 6587 framing, RFC 5425 TLS): admission (allow-list, connection
// limit), per-connection framing, idle timeout and a clean stop. Both transports share this
// code. Admission runs on the raw TCP connection, before any TLS handshake work.
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { PtimError } from '../errors.js';
import { listening } from '../net/listening.js';
import { rateLimiter } from '../log.js';
import { unmapIp } from './cidr.js';
import { StreamFramer, type Frame } from './framing.js';
import { guardSink, isV6Bind, openAll, type ListenerAddress, type Receiver, type ReceiverContext } from './receiver.js';

/** Shared by every stream listener so `ingest.maxConnections` bounds the process as a whole. */
export interface ConnectionBudget {
  tryAcquire(): boolean;
  release(): void;
}

export function connectionBudget(max: number): ConnectionBudget {
  let used = 0;
  return {
    tryAcquire: () => (used < max ? (used++, true) : false),
    release: () => {
      used = Math.max(0, used - 1);
    },
  };
}

export interface StreamOptions {
  readonly transport: 'tcp' | 'tls';
  readonly bind: readonly string[];
  readonly port: number;
  readonly maxMessageBytes: number;
  readonly maxContinuationLines: number;
  readonly idleTimeoutMs: number;
  /** A held LF frame is released after this much silence (see framing.ts). */
  readonly quietFlushMs: number;
  /** After stop(), connections get this long to close before they are destroyed. */
  readonly shutdownGraceMs: number;
  readonly budget: ConnectionBudget;
  /** TLS only. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly ca?: Buffer; readonly requireClientCert: boolean };
}

interface Conn {
  readonly raw: Socket;
  /** What carries the syslog bytes: the raw socket (TCP) or its TLS socket once secured. */
  stream?: Socket;
  readonly closed: Promise<void>;
  attach(stream: Socket): void;
  finish(): void;
}

const connKey = (s: Socket) => `${s.remoteAddress ?? ''}|${s.remotePort ?? 0}`;

export function createStreamReceiver(opts: StreamOptions, ctx: ReceiverContext): Receiver {
  const { transport } = opts;
  const { metrics, logger, clock, policy, rejections } = ctx;
  const now = () => clock.now();
  const sink = guardSink(ctx.sink, logger, rateLimiter(10, now));
  const received = metrics.received.labels({ transport });
  const receivedBytes = metrics.receivedBytes.labels({ transport });
  const truncated = metrics.truncated.labels({ transport });
  const continuations = metrics.continuations.labels({ transport });
  const gauge = metrics.connections.labels({ transport });
  const dropped = (reason: string) => metrics.dropped.inc({ transport, reason });
  const limitLog = rateLimiter(10, now);
  const errLog = rateLimiter(10, now);

  let servers: { server: Server; address: ListenerAddress }[] = [];
  const conns = new Set<Conn>();
  let stopping = false;

  /** TLS connections admitted but not yet secured, by remote address/port. */
  const handshaking = new Map<string, Conn>();

  const accept = (raw: Socket) => {
    raw.on('error', (err) => {
      // Resets and half-finished handshakes are routine; never fatal.
      const r = errLog();
      if (r.allowed) logger.debug({ err, transport, suppressed: r.suppressed }, 'syslog connection error');
    });
    if (raw.remoteAddress === undefined) {
      raw.destroy(); // reset before we got to it: there is no sender to judge
      return;
    }
    const sourceIp = unmapIp(raw.remoteAddress);
    const sourcePort = raw.remotePort ?? 0;
    const verdict = policy.check(sourceIp);
    if (!verdict.allowed) {
      rejections.reject(transport, sourceIp);
      raw.destroy();
      return;
    }
    if (stopping) {
      dropped('shutdown');
      raw.destroy();
      return;
    }
    if (!opts.budget.tryAcquire()) {
      dropped('connection_limit');
      const r = limitLog();
      if (r.allowed)
        logger.warn(
          { transport, source: sourceIp, suppressed: r.suppressed, setting: 'ingest.maxConnections' },
          `refused syslog connection from ${sourceIp}: ingest.maxConnections reached`,
        );
      raw.destroy();
      return;
    }
    gauge.inc();

    const framer = new StreamFramer({
      maxMessageBytes: opts.maxMessageBytes,
      maxContinuationLines: opts.maxContinuationLines,
      onDrop: (reason) => dropped(reason),
    });
    const deliver = (frames: Frame[]) => {
      for (const f of frames) {
        received.inc();
        receivedBytes.inc(f.bytes.length);
        if (f.truncated) truncated.inc();
        if (f.continuations > 0) continuations.inc(f.continuations);
        sink({
          bytes: f.bytes,
          transport,
          sourceIp,
          sourcePort,
          receivedAt: now(),
          truncated: f.truncated,
          ...(verdict.firewall === undefined ? {} : { firewall: verdict.firewall }),
        });
      }
    };
    // A lone last LF message would otherwise wait for the next one (continuation check).
    let quiet: NodeJS.Timeout | undefined;
    const armQuiet = () => {
      if (quiet) quiet.refresh();
      else (quiet = setTimeout(() => deliver(framer.flushPending()), opts.quietFlushMs)).unref();
    };
    let finished = false;
    let ended = false; // idle timeout or shutdown already accounted for this connection
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(quiet);
      deliver(framer.end());
    };

    const key = connKey(raw);
    const conn: Conn = {
      raw,
      closed: once(raw, 'close').then(() => {
        if (opts.tls && !conn.stream && !ended && !stopping) dropped('tls_handshake');
        handshaking.delete(key);
        finish();
        gauge.dec();
        opts.budget.release();
        conns.delete(conn);
      }),
      attach(stream) {
        conn.stream = stream;
        stream.on('data', (chunk: Buffer) => {
          if (finished) return;
          deliver(framer.push(chunk));
          if (framer.hasPending()) armQuiet();
        });
        stream.on('end', () => {
          finish();
          stream.end();
        });
        if (stream !== raw) stream.on('error', () => raw.destroy());
      },
      finish,
    };
    conns.add(conn);
    raw.setTimeout(opts.idleTimeoutMs, () => {
      ended = true;
      dropped('idle_timeout');
      finish();
      raw.destroy();
    });
    if (opts.tls) handshaking.set(key, conn);
    else conn.attach(raw);
  };

  const onSecure = (tlsSocket: TLSSocket) => {
    const conn = handshaking.get(connKey(tlsSocket));
    if (!conn) {
      tlsSocket.destroy(); // admission refused it meanwhile
      return;
    }
    handshaking.delete(connKey(tlsSocket));
    conn.attach(tlsSocket);
  };

  const makeServer = (): Server => {
    if (!opts.tls) return createServer();
    const t = opts.tls;
    const server = createTlsServer({
      cert: t.cert,
      key: t.key,
      ...(t.ca ? { ca: t.ca } : {}),
      requestCert: t.requireClientCert,
      rejectUnauthorized: t.requireClientCert,
      handshakeTimeout: Math.min(opts.idleTimeoutMs, 30_000),
    });
    server.on('secureConnection', onSecure);
    server.on('tlsClientError', (err, sock) => {
      const r = errLog();
      if (r.allowed)
        logger.warn(
          {
            err: { message: err.message, code: (err as NodeJS.ErrnoException).code },
            transport,
            source: unmapIp(sock.remoteAddress ?? ''),
            suppressed: r.suppressed,
          },
          'syslog TLS handshake failed',
        );
    });
    return server;
  };

  const listenOne = async (address: string) => {
    const server = makeServer();
    // Runs after tls.Server's own listener has wrapped the socket; destroying `raw` ends both.
    server.on('connection', accept);
    try {
      await listening(server, () => server.listen({ host: address, port: opts.port, ipv6Only: isV6Bind(address) }));
    } catch (e) {
      server.close();
      throw new PtimError(
        'PTIM_ERR_BIND',
        `cannot listen on ${transport.toUpperCase()} ${address} port ${opts.port}: ${(e as Error).message}`,
      );
    }
    server.on('error', (err) => logger.error({ err, transport, address }, 'syslog listener error'));
    const a = server.address();
    if (!a || typeof a === 'string') throw new PtimError('PTIM_ERR_BIND', `no address for ${transport} ${address}`);
    logger.info({ transport, address: a.address, port: a.port }, `syslog ${transport.toUpperCase()} listening`);
    const entry: ListenerAddress = { transport, address: a.address, family: isV6Bind(address) ? 'IPv6' : 'IPv4', port: a.port };
    return { server, address: entry };
  };

  const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

  return {
    async start() {
      if (servers.length > 0) return;
      stopping = false;
      servers = await openAll(opts.bind, listenOne, (s) => closeServer(s.server));
    },

    async stop() {
      stopping = true;
      const s = servers;
      servers = [];
      const serversClosed = Promise.all(s.map((x) => closeServer(x.server)));
      const open = [...conns];
      // Half-close: a well-behaved sender finishes its last message and closes.
      for (const c of open) {
        if (c.stream) c.stream.end();
        else c.raw.destroy(); // still in its TLS handshake: nothing to finish
      }
      let grace: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => {
        grace = setTimeout(resolve, opts.shutdownGraceMs);
      });
      await Promise.race([Promise.all(open.map((c) => c.closed)), graceOver]);
      clearTimeout(grace);
      for (const c of conns) {
        if (c.stream) dropped('shutdown');
        c.finish();
        c.raw.destroy();
      }
      await Promise.all(open.map((c) => c.closed));
      await serversClosed;
    },

    addresses: () => servers.map((s) => s.address),
  };
}
