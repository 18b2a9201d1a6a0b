// Builds every enabled receiver from the frozen configuration and runs them as one unit.
// This is the only ingest entry point the composition root needs.
import { readFile } from 'node:fs/promises';
import { PtimError } from '../errors.js';
import { DEFAULT_ALLOWED_SOURCES } from '../config/defaults.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock } from '../types.js';
import type { ListenerAddress, MessageSink, Receiver, ReceiverContext } from './receiver.js';
import { createRejections } from './rejections.js';
import { createSourcePolicy } from './sources.js';
import { createConnectionTable } from './connections.js';
import { createStreamReceiver } from './tcp.js';
import { createUdpReceiver } from './udp.js';

export type { ListenerAddress, MessageSink } from './receiver.js';

export interface IngestDeps {
  readonly sink: MessageSink;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Overrides in milliseconds, for tests (the settings are whole seconds). */
  readonly timing?: {
    readonly firstFrameTimeoutMs?: number;
    readonly tlsHandshakeTimeoutMs?: number;
    readonly quietFlushMs?: number;
    readonly shutdownGraceMs?: number;
  };
}

export interface Receivers {
  /** Binds all enabled listeners; on failure nothing stays bound (PtimError PTIM_ERR_BIND / PTIM_ERR_SECRET). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Bound addresses (with the actual ports when configured as 0). */
  addresses(): ListenerAddress[];
  /** True while every enabled listener is bound. */
  ready(): boolean;
}

/** How long a held LF frame waits for a continuation piece once the connection goes quiet. */
export const QUIET_FLUSH_MS = 75;
export const SHUTDOWN_GRACE_MS = 2000;

/** Says so at start when the allow-list drops everything or is still the shipped default. */
function warnAllowList(allowedSources: readonly string[], logger: Logger): void {
  if (allowedSources.length === 0)
    logger.warn({ setting: 'ingest.allowedSources' }, 'ingest.allowedSources is empty: every sender will be dropped');
  else if (sameList(allowedSources, DEFAULT_ALLOWED_SOURCES))
    logger.warn(
      { setting: 'ingest.allowedSources', allowedSources },
      'ingest.allowedSources is the default (loopback and private ranges): list your firewalls there',
    );
}

/** What every TCP and TLS listener shares: framing limits, timeouts and one connection table. */
function streamSettings(ing: Config['ingest'], timing: IngestDeps['timing']) {
  return {
    maxMessageBytes: ing.maxMessageBytes,
    maxContinuationLines: ing.maxContinuationLines,
    firstFrameTimeoutMs: timing?.firstFrameTimeoutMs ?? ing.firstFrameTimeoutSecs * 1000,
    keepAliveMs: ing.tcpKeepAliveSecs * 1000,
    quietFlushMs: timing?.quietFlushMs ?? QUIET_FLUSH_MS,
    shutdownGraceMs: timing?.shutdownGraceMs ?? SHUTDOWN_GRACE_MS,
    table: createConnectionTable(ing),
  };
}

/** Reads one of ingest.tls's files (PTIM_ERR_CONFIG when unset, PTIM_ERR_SECRET when unreadable). */
async function readTlsFile(setting: string, file: string | undefined): Promise<Buffer> {
  if (!file) throw new PtimError('PTIM_ERR_CONFIG', `ingest.tls.${setting} is required when ingest.tls.enabled is true`);
  try {
    return await readFile(file);
  } catch (e) {
    throw new PtimError('PTIM_ERR_SECRET', `cannot read ingest.tls.${setting} ${file}: ${(e as Error).message}`, [
      { path: `ingest.tls.${setting}`, message: (e as Error).message },
    ]);
  }
}

/** The TLS listener, its certificate files read now. */
async function tlsReceiver(
  t: Config['ingest']['tls'],
  stream: ReturnType<typeof streamSettings>,
  timing: IngestDeps['timing'],
  ctx: ReceiverContext,
): Promise<Receiver> {
  const cert = await readTlsFile('certFile', t.certFile);
  const key = await readTlsFile('keyFile', t.keyFile);
  const ca = t.clientCaFile ? await readTlsFile('clientCaFile', t.clientCaFile) : undefined;
  const tls = {
    cert,
    key,
    ...(ca ? { ca } : {}),
    requireClientCert: t.requireClientCert,
    handshakeTimeoutMs: timing?.tlsHandshakeTimeoutMs ?? t.handshakeTimeoutSecs * 1000,
  };
  return createStreamReceiver({ ...stream, transport: 'tls', bind: t.bind, port: t.port, tls }, ctx);
}

/** Every enabled receiver, in the order they are started: UDP, TCP, TLS. */
async function buildReceivers(ing: Config['ingest'], timing: IngestDeps['timing'], ctx: ReceiverContext): Promise<Receiver[]> {
  const stream = streamSettings(ing, timing);
  const out: Receiver[] = [];
  if (ing.udp.enabled) {
    const { bind, port, receiveBufferBytes, reader } = ing.udp;
    out.push(createUdpReceiver({ bind, port, receiveBufferBytes, reader, maxMessageBytes: ing.maxMessageBytes }, ctx));
  }
  if (ing.tcp.enabled)
    out.push(createStreamReceiver({ ...stream, transport: 'tcp', bind: ing.tcp.bind, port: ing.tcp.port }, ctx));
  if (ing.tls.enabled) out.push(await tlsReceiver(ing.tls, stream, timing, ctx));
  return out;
}

/** Starts receivers in order; when one fails, stops those already started and rethrows. */
async function startAll(list: readonly Receiver[]): Promise<Receiver[]> {
  const started: Receiver[] = [];
  try {
    for (const r of list) {
      await r.start();
      started.push(r);
    }
  } catch (e) {
    await Promise.all(started.map((r) => r.stop()));
    throw e;
  }
  return started;
}

/** Throws PtimError PTIM_ERR_CONFIG listing every invalid CIDR (allow-list and firewall map). */
export function createReceivers(cfg: Pick<Config, 'ingest' | 'firewalls'>, deps: IngestDeps): Receivers {
  const ing = cfg.ingest;
  const built = createSourcePolicy(cfg);
  if (!built.policy) throw new PtimError('PTIM_ERR_CONFIG', 'invalid source addresses', built.problems);
  warnAllowList(ing.allowedSources, deps.logger);
  const ctx: ReceiverContext = {
    sink: deps.sink,
    clock: deps.clock,
    metrics: deps.metrics,
    logger: deps.logger,
    policy: built.policy,
    rejections: createRejections({
      metrics: deps.metrics,
      logger: deps.logger,
      droppedLogPerMinute: ing.droppedLogPerMinute,
      now: () => deps.clock.now(),
    }),
  };
  let receivers: Receiver[] | undefined;
  let running: Receiver[] = [];
  return {
    async start() {
      if (running.length > 0) return;
      receivers ??= await buildReceivers(ing, deps.timing, ctx);
      running = await startAll(receivers);
    },
    async stop() {
      const r = running;
      running = [];
      await Promise.all(r.map((x) => x.stop()));
    },
    addresses: () => running.flatMap((r) => r.addresses()),
    ready: () => running.length > 0 && running.length === (receivers?.length ?? 0),
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, k) => x === b[k]);
}
