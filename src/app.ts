// The composition root: builds every component from the frozen config, wires the data flow
// (receivers → pipeline → session engine → outbox → relay → queue → push workers → JIMS),
// and owns start/stop order. Nothing else constructs components; main.ts only calls this.
import { existsSync } from 'node:fs';
import { hostname, setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Config, Role } from './config/schema.js';
import { PtimError, type Problem } from './errors.js';
import type { ListenerAddress } from './ingest/receiver.js';
import { createJimsClient, type JimsClient } from './jims/client.js';
import type { Logger } from './log.js';
import { loadLibrary, type Library } from './match/library.js';
import { createLibraryReloader, type LibraryReloader } from './match/reload.js';
import type { Metrics } from './ops/metrics.js';
import { createOpsServer, type OpsServer, type ReadinessCheck } from './ops/server.js';
import { createQueueDepthPoller, type QueueDepthPoller } from './queue/depth.js';
import { checkRedis, connectRedis, createRedisConnection } from './queue/redis-check.js';
import { createOutboxRelay, type OutboxRelay } from './queue/relay.js';
import { createPushWorkers, type PushWorkers } from './queue/worker.js';
import { createSessionEngine, type SessionEngine } from './sessions/engine.js';
import { createSweeper, type Sweeper } from './sessions/sweeper.js';
import { createThreadedIngest, type ThreadedIngest } from './threads/ingest.js';
import { mergeMetrics } from './threads/metrics.js';
import { createQuarantineStore } from './threads/quarantine.js';
import type { Clock } from './types.js';

export interface AppDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Test-only millisecond overrides passed to the receivers. */
  readonly ingestTiming?: { idleTimeoutMs?: number; quietFlushMs?: number; shutdownGraceMs?: number };
  /** Test-only: a module (URL) whose default export rewrites the matcher thread's library. */
  readonly libraryHook?: string;
}

export interface App {
  start(): Promise<void>;
  /** Graceful: stop accepting, apply what was received, let in-flight pushes finish, close. */
  stop(): Promise<void>;
  /** Reload the pattern library (SIGHUP). Resolves true when a new library was installed. */
  reloadPatterns(): Promise<boolean>;
  /** Bound syslog listeners and the ops server address (after start). */
  addresses(): { syslog: ListenerAddress[]; ops?: { address: string; port: number } };
  /** Resolves once every line received so far is matched and applied by the session engine. */
  drain(): Promise<void>;
  /** Every thread's metrics in one registry (what /metrics serves). */
  metricsRegistry(): Promise<Registry>;
  readonly engine?: SessionEngine;
}

export interface PreflightResult {
  readonly library?: Library;
  /** The JIMS client, built (templates compiled, secrets read) once: the caller uses or closes it. */
  readonly jims?: JimsClient;
  /** Every problem found, grouped by error code; empty when the bridge can start. */
  readonly errors: readonly PtimError[];
  readonly warnings: readonly string[];
}

const has = (config: Config, role: Role) => config.roles.includes(role);

/**
 * Everything that can be checked without touching the network: allow-list CIDRs, files, the
 * pattern library (with its self-test) and the JIMS templates/secrets. `ptim-bridge check` prints
 * this; `serve` refuses to start unless it is clean. All problems are reported, not just the first.
 */
export async function preflight(
  config: Config,
  deps: Pick<AppDeps, 'metrics' | 'clock' | 'logger'>,
  opts: { library?: boolean } = {},
): Promise<PreflightResult> {
  const errors: PtimError[] = [];
  const warnings: string[] = [];
  const configProblems: Problem[] = [];
  const tls = config.ingest.tls;
  if (tls.enabled) {
    for (const key of ['certFile', 'keyFile', 'clientCaFile'] as const) {
      const f = tls[key];
      if (f && !existsSync(f)) configProblems.push({ path: `ingest.tls.${key}`, message: `file not found: ${f}` });
    }
  }
  if (tls.enabled && tls.clientCaFile && !tls.requireClientCert) {
    warnings.push('ingest.tls.clientCaFile is set but requireClientCert is false: client certificates are not checked');
  }
  if (!config.jims.primary && has(config, 'worker')) {
    warnings.push('jims.primary is not set: events are queued but not pushed until it is configured');
  }
  if (configProblems.length) {
    errors.push(new PtimError('PTIM_ERR_CONFIG', `invalid configuration (${configProblems.length} problem(s))`, configProblems));
  }

  let library: Library | undefined;
  if (has(config, 'ingest') && opts.library !== false) {
    try {
      library = await loadLibrary(config.patterns.dirs);
    } catch (e) {
      errors.push(asPtimError(e, 'PTIM_ERR_PATTERN'));
    }
  }

  let jims: JimsClient | undefined;
  if (config.jims.primary && has(config, 'worker')) {
    try {
      // The client logs its own start-up warnings (TLS verification off, plain HTTP) to deps.logger.
      jims = createJimsClient(config.jims, { metrics: deps.metrics, logger: deps.logger, clock: deps.clock });
    } catch (e) {
      errors.push(asPtimError(e, 'PTIM_ERR_TEMPLATE'));
    }
  }
  return { library, jims, errors, warnings };
}

function asPtimError(e: unknown, fallback: PtimError['code']): PtimError {
  return e instanceof PtimError ? e : new PtimError(fallback, (e as Error).message ?? String(e));
}

let correlationCounter = 0;
const correlationBase = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
/** Cheap, unique per process and line: ties a syslog line to its decisions, jobs and pushes in the logs. */
function nextCorrelationId(): string {
  correlationCounter = (correlationCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${correlationBase}-${correlationCounter.toString(36)}`;
}

/**
 * The ingest role: receive and matcher threads (src/threads/) feeding the session engine on this
 * thread, and the pattern reloader driving both threads. Start-up errors of either thread
 * (bind, TLS files, CIDRs, the pattern library) come back as the same coded PtimErrors.
 */
async function buildIngest(config: Config, deps: AppDeps, command: Redis, engine: () => SessionEngine | undefined) {
  const { logger, metrics, clock } = deps;
  const ingest = await createThreadedIngest(config, {
    logger,
    metrics,
    clock,
    // The watchdog measures real time whatever clock is injected: a runaway regex burns real CPU.
    monotonicNow: () => performance.now(),
    deliver(events) {
      const e = engine();
      if (!e) return Promise.resolve();
      for (const event of events) e.submit(event, nextCorrelationId());
      return e.drain();
    },
    // Half the engine's buffer: a storm waits in the hand-off; the buffer stays for Redis outages.
    deliverWindow: Math.max(1, Math.floor(config.sessions.bufferMaxEvents / 2)),
    store: createQuarantineStore(command, config.redis.keyPrefix),
    timing: deps.ingestTiming,
    ...(deps.libraryHook ? { libraryHook: deps.libraryHook } : {}),
  });
  const reloader = createLibraryReloader({
    dirs: config.patterns.dirs,
    watch: config.patterns.watch,
    load: () => ingest.reload(),
    onLibrary: (summary) => ingest.setLiterals(summary.literals),
    logger,
    metrics,
  });
  return { ingest, reloader };
}

/**
 * On Linux, setpriority() on "this process" changes only the calling thread: the main thread
 * yields to the receive thread (started before, so it keeps its niceness) under CPU contention.
 */
function lowerDeliveryPriority(nice: number, logger: Logger): void {
  if (nice === 0 || process.platform !== 'linux') return;
  try {
    setPriority(nice);
  } catch (err) {
    logger.warn({ err, setting: 'ingest.deliveryNice' }, 'cannot lower the main thread priority');
  }
}

export async function createApp(config: Config, deps: AppDeps): Promise<App> {
  const { logger, metrics, clock } = deps;
  const pre = await preflight(config, deps, { library: false });
  const errors = [...pre.errors];

  const keyPrefix = config.redis.keyPrefix;
  const redisOpts = { connectTimeoutSecs: config.redis.connectTimeoutSecs, logger };
  const connections: Redis[] = [];
  const connection = (role: 'worker' | 'producer' | 'command') => {
    const r = createRedisConnection(config.redis.url, role, redisOpts);
    connections.push(r);
    return r;
  };
  const command = connection('command');

  let ingest: ThreadedIngest | undefined;
  let engine: SessionEngine | undefined;
  let reloader: LibraryReloader | undefined;
  let relay: OutboxRelay | undefined;
  let depth: QueueDepthPoller | undefined;
  let workers: PushWorkers | undefined;
  let sweeper: Sweeper | undefined;
  let ops: OpsServer | undefined;
  let opsAddress: { address: string; port: number } | undefined;

  if (has(config, 'ingest')) {
    try {
      ({ ingest, reloader } = await buildIngest(config, deps, command, () => engine));
    } catch (e) {
      errors.push(asPtimError(e, 'PTIM_ERR_PATTERN'));
    }
  }
  if (errors.length) {
    await pre.jims?.close();
    await ingest?.close();
    throw PtimError.combine(errors);
  }
  for (const w of pre.warnings) logger.warn(w);
  if (ingest) lowerDeliveryPriority(config.ingest.deliveryNice, logger);
  if (ingest)
    engine = createSessionEngine({ redis: connection('producer'), cfg: config.sessions, keyPrefix, metrics, logger, clock });

  if (has(config, 'relay')) {
    relay = createOutboxRelay({
      redis: connection('producer'),
      queue: config.queue,
      keyPrefix,
      metrics,
      logger,
      consumerName: `${hostname()}-${process.pid}`,
    });
    depth = createQueueDepthPoller({ queue: relay.pushQueue, redis: command, keyPrefix, metrics, logger });
  }

  const jims = pre.jims;
  if (jims) {
    workers = createPushWorkers({
      connection: connection('worker'),
      queue: config.queue,
      keyPrefix,
      pusher: jims,
      metrics,
      logger,
      clock,
      autorun: false,
    });
  }

  if (has(config, 'sweeper')) {
    sweeper = createSweeper({ redis: command, cfg: config.sessions, keyPrefix, metrics, logger, clock });
  }

  let jimsProbe: { at: number; result: { ok: boolean; detail?: string } } | undefined;
  const checks = (): ReadinessCheck[] => {
    const list: ReadinessCheck[] = [
      {
        name: 'redis',
        required: true,
        check: () => ({ ok: command.status === 'ready', detail: command.status }),
      },
    ];
    if (ingest) list.push(...ingest.checks());
    if (engine) {
      const e = engine;
      list.push({
        name: 'session-engine',
        required: true,
        check: () => ({ ok: e.ready(), detail: e.ready() ? undefined : 'Redis calls failing: events buffered in memory' }),
      });
    }
    if (has(config, 'worker')) {
      list.push({
        name: 'jims',
        // JIMS being down must not take the bridge out of service: it queues and retries.
        required: false,
        check: async () => {
          if (!jims) return { ok: false, detail: 'jims.primary not configured: events are queued, not pushed' };
          const now = clock.now();
          if (!jimsProbe || now - jimsProbe.at > 15_000) {
            const r = await jims.probe();
            jimsProbe = { at: now, result: { ok: r.reachable, detail: `${r.server}${r.detail ? `: ${r.detail}` : ''}` } };
          }
          return jimsProbe.result;
        },
      });
    }
    return list;
  };

  const onSighup = () => {
    logger.info('SIGHUP: reloading the pattern library');
    void reloader?.reload();
  };

  const metricsRegistry = async () => mergeMetrics(metrics.registry, (await ingest?.snapshots()) ?? []);

  return {
    engine,
    async start() {
      await connectRedis(command, config.redis.url, config.redis.connectTimeoutSecs);
      const info = await checkRedis(command, { allowEviction: config.redis.allowEviction, logger });
      logger.info({ redisVersion: info.version, policy: info.maxmemoryPolicy, aof: info.aofEnabled }, 'redis checked');
      for (const r of connections) if (r !== command) await connectRedis(r, config.redis.url, config.redis.connectTimeoutSecs);
      if (config.ops.enabled) {
        ops = createOpsServer({ registry: metricsRegistry, checks });
        opsAddress = await ops.listen(config.ops.port, config.ops.host);
      }
      if (workers) {
        void workers.worker.run();
        await workers.waitUntilReady();
      }
      await relay?.start();
      depth?.start();
      sweeper?.start();
      if (ingest) {
        await ingest.start();
        process.on('SIGHUP', onSighup);
      }
      logger.info(
        {
          roles: config.roles,
          syslog: ingest?.addresses().map((a) => `${a.transport}://${a.address}:${a.port}`),
          ops: opsAddress ? `http://${opsAddress.address}:${opsAddress.port}` : undefined,
          jims: config.jims.primary
            ? `${config.jims.primary.scheme}://${config.jims.primary.host}:${config.jims.primary.port}`
            : 'not configured',
        },
        'ptim-bridge started',
      );
    },

    async stop() {
      logger.info('stopping: no new syslog; applying what was received; letting pushes finish');
      process.off('SIGHUP', onSighup);
      reloader?.close();
      await ingest?.stop();
      await ingest?.close();
      if (engine) {
        await Promise.race([engine.drain(), new Promise((r) => setTimeout(r, 5000).unref())]);
        await engine.close();
      }
      await sweeper?.stop();
      depth?.stop();
      await relay?.stop();
      await workers?.close();
      await jims?.close();
      await ops?.close();
      await Promise.all(connections.map((r) => r.quit().catch(() => r.disconnect())));
      logger.info('stopped');
    },

    reloadPatterns: () => reloader?.reload() ?? Promise.resolve(false),

    addresses: () => ({ syslog: ingest?.addresses() ?? [], ops: opsAddress }),

    async drain() {
      await ingest?.drain();
      await engine?.drain();
    },

    metricsRegistry,
  };
}
