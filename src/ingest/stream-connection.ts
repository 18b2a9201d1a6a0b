// One admitted TCP/TLS syslog connection: its framer, its timers and how it ends.
//
// Timers: a connection from a source that is not a configured firewall must deliver one complete
// message within the first-frame deadline (a slow drip of bytes, or a port scan, is closed and
// counted); after that no connection is closed for being quiet, since quiet is normal for a
// firewall sending only VPN events. TCP keepalive
// finds peers that went away. A held LF frame is released after a short quiet time.
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { StreamFramer, type Frame, type FrameDropReason } from './framing.js';
import type { TrackedConnection } from './connections.js';
import type { ConnectionOutcome, ReportOutcome } from './outcomes.js';

export interface StreamConnectionOptions {
  readonly tls: boolean;
  readonly maxMessageBytes: number;
  readonly maxContinuationLines: number;
  readonly quietFlushMs: number;
  readonly firstFrameTimeoutMs: number;
  readonly keepAliveMs: number;
}

export interface StreamConnectionDeps {
  readonly now: () => number;
  readonly report: ReportOutcome;
  /** Every complete frame, in order. */
  readonly emit: (frame: Frame, conn: StreamConnection) => void;
  readonly onDrop: (reason: FrameDropReason) => void;
  /** After the socket closed (slot to free, gauge to lower). */
  readonly onClosed: (conn: StreamConnection) => void;
  /** True while the receiver stops: closes then are not handshake failures. */
  readonly stopping: () => boolean;
}

export class StreamConnection implements TrackedConnection {
  readonly source: string;
  readonly sourcePort: number;
  lastMessageAt: number;
  /** What carries the syslog bytes: the raw socket (TCP) or its TLS socket once secured. */
  stream: Socket | undefined;
  readonly closed: Promise<void>;
  /** The TLS error reported for this connection's handshake, if any. */
  tlsError: { message: string; code?: string } | undefined;

  private readonly framer: StreamFramer;
  private quiet: NodeJS.Timeout | undefined;
  private firstFrame: NodeJS.Timeout | undefined;
  private finished = false;
  /** Set when the bridge closed it on purpose (already reported). */
  private outcome: ConnectionOutcome | undefined;

  constructor(
    readonly raw: Socket,
    source: string,
    readonly firewall: boolean,
    private readonly opts: StreamConnectionOptions,
    private readonly deps: StreamConnectionDeps,
  ) {
    this.source = source;
    this.sourcePort = raw.remotePort ?? 0;
    this.lastMessageAt = deps.now();
    this.framer = new StreamFramer({
      maxMessageBytes: opts.maxMessageBytes,
      maxContinuationLines: opts.maxContinuationLines,
      onDrop: deps.onDrop,
    });
    raw.setKeepAlive(true, opts.keepAliveMs);
    // A configured firewall may connect long before it has anything to say (a `match` filter
    // lets only VPN events through), so only other sources get the deadline.
    if (!firewall) {
      this.firstFrame = setTimeout(() => this.close('first_frame_timeout'), opts.firstFrameTimeoutMs);
      this.firstFrame.unref();
    }
    this.closed = once(raw, 'close').then(() => this.onSocketClosed());
  }

  /** Starts reading syslog from `stream` (the raw socket, or the TLS socket once secured). */
  attach(stream: Socket): void {
    this.stream = stream;
    stream.on('data', (chunk: Buffer) => {
      if (this.finished) return;
      this.deliver(this.framer.push(chunk));
      if (this.framer.hasPending()) this.armQuiet();
    });
    stream.on('end', () => {
      this.finish();
      stream.end();
    });
    if (stream !== this.raw) stream.on('error', () => this.raw.destroy());
  }

  /** The bridge closes the connection: counted and logged once, what was framed is delivered. */
  close(outcome: ConnectionOutcome): void {
    if (this.outcome !== undefined || this.raw.destroyed) return;
    this.outcome = outcome;
    this.deps.report(outcome, this.source);
    this.finish();
    this.raw.destroy();
  }

  /** Delivers what the framer holds; no more input is read. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.quiet);
    clearTimeout(this.firstFrame);
    this.deliver(this.framer.end());
  }

  private deliver(frames: Frame[]): void {
    if (frames.length === 0) return;
    this.lastMessageAt = this.deps.now();
    if (this.firstFrame) {
      clearTimeout(this.firstFrame);
      this.firstFrame = undefined;
    }
    for (const f of frames) this.deps.emit(f, this);
  }

  /** A lone last LF message would otherwise wait for the next one (continuation check). */
  private armQuiet(): void {
    if (this.quiet) this.quiet.refresh();
    else {
      this.quiet = setTimeout(() => this.deliver(this.framer.flushPending()), this.opts.quietFlushMs);
      this.quiet.unref();
    }
  }

  private onSocketClosed(): void {
    if (this.opts.tls && !this.stream && this.outcome === undefined && !this.deps.stopping()) {
      const e = this.tlsError;
      this.deps.report(e?.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'tls_handshake_timeout' : 'tls_handshake', this.source, {
        message: e?.message ?? 'the connection closed during the TLS handshake',
        ...(e?.code ? { code: e.code } : {}),
      });
    }
    this.finish();
    this.deps.onClosed(this);
  }
}
