// Builds every enabled receiver from the frozen configuration and runs them as one unit.
// This is the only ingest entry point the composition root needs.
import { readFile } from 'node:fs/promises';
import { PtimError } from '../errors.js';
import { DEFAULT_ALLOWED_SOURCES, type Config } from '../config/schema.js';
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

/** Throws PtimError PTIM_ERR_CONFIG listing every invalid CIDR (allow-list and firewall map). */
export function createReceivers(cfg: Pick<Config, 'ingest' | 'firewalls'>, deps: IngestDeps): Receivers {
  const ing = cfg.ingest;
  const built = createSourcePolicy(cfg);
  if (!built.policy) throw new PtimError('PTIM_ERR_CONFIG', 'invalid source addresses', built.problems);
  const now = () => deps.clock.now();
  if (ing.allowedSources.length === 0)
    deps.logger.warn({ setting: 'ingest.allowedSources' }, 'ingest.allowedSources is empty: every sender will be dropped');
  else if (sameList(ing.allowedSources, DEFAULT_ALLOWED_SOURCES))
    deps.logger.warn(
      { setting: 'ingest.allowedSources', allowedSources: ing.allowedSources },
      'ingest.allowedSources is the default (loopback and private ranges): list your firewalls there',
    );
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
      now,
    }),
  };
  const stream = {
    maxMessageBytes: ing.maxMessageBytes,
    maxContinuationLines: ing.maxContinuationLines,
    firstFrameTimeoutMs: deps.timing?.firstFrameTimeoutMs ?? ing.firstFrameTimeoutSecs * 1000,
    keepAliveMs: ing.tcpKeepAliveSecs * 1000,
    quietFlushMs: deps.timing?.quietFlushMs ?? QUIET_FLUSH_MS,
    shutdownGraceMs: deps.timing?.shutdownGraceMs ?? SHUTDOWN_GRACE_MS,
    table: createConnectionTable(ing),
  };

  const receivers: Receiver[] = [];
  let running: Receiver[] = [];

  const build = async (): Promise<Receiver[]> => {
    const out: Receiver[] = [];
    if (ing.udp.enabled)
      out.push(
        createUdpReceiver(
          {
            bind: ing.udp.bind,
            port: ing.udp.port,
            receiveBufferBytes: ing.udp.receiveBufferBytes,
            maxMessageBytes: ing.maxMessageBytes,
          },
          ctx,
        ),
      );
    if (ing.tcp.enabled)
      out.push(createStreamReceiver({ ...stream, transport: 'tcp', bind: ing.tcp.bind, port: ing.tcp.port }, ctx));
    if (ing.tls.enabled) {
      const t = ing.tls;
      const read = async (setting: string, file: string | undefined) => {
        if (!file) throw new PtimError('PTIM_ERR_CONFIG', `ingest.tls.${setting} is required when ingest.tls.enabled is true`);
        try {
          return await readFile(file);
        } catch (e) {
          throw new PtimError('PTIM_ERR_SECRET', `cannot read ingest.tls.${setting} ${file}: ${(e as Error).message}`, [
            { path: `ingest.tls.${setting}`, message: (e as Error).message },
          ]);
        }
      };
      const cert = await read('certFile', t.certFile);
      const key = await read('keyFile', t.keyFile);
      const ca = t.clientCaFile ? await read('clientCaFile', t.clientCaFile) : undefined;
      out.push(
        createStreamReceiver(
          {
            ...stream,
            transport: 'tls',
            bind: t.bind,
            port: t.port,
            tls: {
              cert,
              key,
              ...(ca ? { ca } : {}),
              requireClientCert: t.requireClientCert,
              handshakeTimeoutMs: deps.timing?.tlsHandshakeTimeoutMs ?? t.handshakeTimeoutSecs * 1000,
            },
          },
          ctx,
        ),
      );
    }
    return out;
  };

  return {
    async start() {
      if (running.length > 0) return;
      const list = receivers.length > 0 ? receivers : (receivers.push(...(await build())), receivers);
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
      running = started;
    },
    async stop() {
      const r = running;
      running = [];
      await Promise.all(r.map((x) => x.stop()));
    },
    addresses: () => running.flatMap((r) => r.addresses()),
    ready: () => running.length > 0 && running.length === receivers.length,
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, k) => x === b[k]);
}
