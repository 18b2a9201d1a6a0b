// The composition root: builds every component from the frozen config, wires the data flow
// (receivers → pipeline → session engine → outbox → relay → queue → push workers → JIMS),
// and owns start/stop order. Nothing else constructs components; main.ts only calls this.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Config, Role } from './config/schema.js';
import { PtimError, type Problem } from './errors.js';
import { createReceivers, type Receivers } from './ingest/receivers.js';
import { createJimsClient, type JimsClient } from './jims/client.js';
import type { Logger } from './log.js';
import { loadLibrary, type Library } from './match/library.js';
import { createLibraryReloader, type LibraryReloader } from './match/reload.js';
import type { Metrics } from './ops/metrics.js';
import { createOpsServer, type OpsServer, type ReadinessCheck } from './ops/server.js';
import { createPipeline, type Pipeline } from './pipeline.js';
import { createQueueDepthPoller, type QueueDepthPoller } from './queue/depth.js';
import { checkRedis, connectRedis, createRedisConnection } from './queue/redis-check.js';
import { createOutboxRelay, type OutboxRelay } from './queue/relay.js';
import { createPushWorkers, type PushWorkers } from './queue/worker.js';
import { createSessionEngine, type SessionEngine } from './sessions/engine.js';
import { openJournaledEngine, type JournaledEngine } from './sessions/journaled.js';
import { budget, within } from './ops/grace.js';
import { createSweeper, type Sweeper } from './sessions/sweeper.js';
import type { Clock, RawMessage } from './types.js';

export interface AppDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Test-only millisecond overrides passed to the receivers. */
  readonly ingestTiming?: { idleTimeoutMs?: number; quietFlushMs?: number; shutdownGraceMs?: number };
}

export interface App {
  start(): Promise<void>;
  /** Graceful: stop accepting, apply what was received, let in-flight pushes finish, close. */
  stop(): Promise<void>;
  /** Reload the pattern library (SIGHUP). Resolves true when a new library was installed. */
  reloadPatterns(): Promise<boolean>;
  /** Bound syslog listeners and the ops server address (after start). */
  addresses(): { syslog: ReturnType<Receivers['addresses']>; ops?: { address: string; port: number } };
  readonly pipeline?: Pipeline;
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
export async function preflight(config: Config, deps: Pick<AppDeps, 'metrics' | 'clock' | 'logger'>): Promise<PreflightResult> {
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
  if (has(config, 'ingest')) {
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

export async function createApp(config: Config, deps: AppDeps): Promise<App> {
  const { logger, metrics, clock } = deps;
  const pre = await preflight(config, deps);
  if (pre.errors.length) {
    await pre.jims?.close();
    throw PtimError.combine(pre.errors);
  }
  for (const w of pre.warnings) logger.warn(w);

  const keyPrefix = config.redis.keyPrefix;
  const redisOpts = { connectTimeoutSecs: config.redis.connectTimeoutSecs, logger };
  const connections: Redis[] = [];
  const connection = (role: 'worker' | 'producer' | 'command') => {
    const r = createRedisConnection(config.redis.url, role, redisOpts);
    connections.push(r);
    return r;
  };
  const command = connection('command');

  let receivers: Receivers | undefined;
  let pipeline: Pipeline | undefined;
  let engine: SessionEngine | undefined;
  let inner: SessionEngine | undefined;
  let journaled: JournaledEngine | undefined;
  let reloader: LibraryReloader | undefined;
  let relay: OutboxRelay | undefined;
  let depth: QueueDepthPoller | undefined;
  let workers: PushWorkers | undefined;
  let sweeper: Sweeper | undefined;
  let ops: OpsServer | undefined;
  let opsAddress: { address: string; port: number } | undefined;

  if (has(config, 'ingest') && pre.library) {
    const engineRedis = connection('producer');
    // A short close: the bounded shutdown (shutdownGraceSecs) must not wait 5 s for a Redis that is gone.
    inner = createSessionEngine({
      redis: engineRedis,
      cfg: config.sessions,
      keyPrefix,
      metrics,
      logger,
      clock,
      closeTimeoutMs: 1000,
    });
    if (config.sessions.journalDir) journaled = await openJournaledEngine(inner, config.sessions, { logger, metrics, clock });
    engine = journaled ?? inner;
    pipeline = createPipeline({
      library: pre.library,
      identity: config.identity,
      metrics,
      logger,
      clock,
      nearMissLogPerMinute: config.patterns.nearMissLogPerMinute,
      maxFieldBytes: config.patterns.maxFieldBytes,
    });
    const p = pipeline;
    const e = engine;
    const sink = (raw: RawMessage) => {
      const outcome = p.process(raw);
      if (outcome.type === 'event') e.submit(outcome.event, nextCorrelationId());
    };
    receivers = createReceivers(config, { sink, clock, metrics, logger, timing: deps.ingestTiming });
    reloader = createLibraryReloader({
      dirs: config.patterns.dirs,
      watch: config.patterns.watch,
      onLibrary: (lib) => p.setLibrary(lib),
      logger,
      metrics,
    });
  }

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
    if (receivers) {
      const r = receivers;
      list.push({ name: 'syslog-listeners', required: true, check: () => ({ ok: r.ready() }) });
    }
    if (engine) {
      const e = engine;
      list.push({
        name: 'session-engine',
        required: true,
        check: () => ({ ok: e.ready(), detail: e.ready() ? undefined : 'Redis calls failing: events buffered in memory' }),
      });
    }
    if (journaled) {
      const j = journaled;
      list.push({ name: 'session-journal', required: false, check: () => j.status() });
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

  return {
    pipeline,
    engine,
    async start() {
      await connectRedis(command, config.redis.url, config.redis.connectTimeoutSecs);
      const info = await checkRedis(command, { allowEviction: config.redis.allowEviction, logger });
      logger.info({ redisVersion: info.version, policy: info.maxmemoryPolicy, aof: info.aofEnabled }, 'redis checked');
      for (const r of connections) if (r !== command) await connectRedis(r, config.redis.url, config.redis.connectTimeoutSecs);
      journaled?.start();
      metrics.patternsLoaded.set(pre.library?.patterns.length ?? 0);

      if (config.ops.enabled) {
        const p = pipeline;
        ops = createOpsServer({ registry: metrics.registry, checks, beforeScrape: () => p?.flushMetrics() });
        opsAddress = await ops.listen(config.ops.port, config.ops.host);
      }
      if (workers) {
        void workers.worker.run();
        await workers.waitUntilReady();
      }
      await relay?.start();
      depth?.start();
      sweeper?.start();
      if (receivers) {
        await receivers.start();
        process.on('SIGHUP', onSighup);
      }
      logger.info(
        {
          roles: config.roles,
          syslog: receivers?.addresses().map((a) => `${a.transport}://${a.address}:${a.port}`),
          ops: opsAddress ? `http://${opsAddress.address}:${opsAddress.port}` : undefined,
          patterns: pre.library?.patterns.length,
          jims: config.jims.primary
            ? `${config.jims.primary.scheme}://${config.jims.primary.host}:${config.jims.primary.port}`
            : 'not configured',
        },
        'ptim-bridge started',
      );
    },

    async stop() {
      // Every step gets what is left of shutdownGraceSecs, so the process ends on time even with
      // Redis or JIMS gone; what Redis has not applied stays in the journal, pushes stay queued.
      const left = budget(config.shutdownGraceSecs * 1000, () => performance.now());
      const reserveMs = Math.min(2000, config.shutdownGraceSecs * 250);
      logger.info(
        { graceSecs: config.shutdownGraceSecs },
        'stopping: no new syslog; applying what was received; letting pushes finish',
      );
      process.off('SIGHUP', onSighup);
      reloader?.close();
      await within(receivers?.stop(), left(reserveMs));
      if (engine) {
        await within(engine.drain(), Math.min(5000, left(reserveMs)));
        const kept = await journaled?.closeJournal();
        if (kept)
          logger.warn(
            { events: kept, dir: config.sessions.journalDir },
            'session events Redis has not applied stay in the journal for the next start',
          );
        await within(inner?.close(), left(reserveMs / 2));
      }
      const rest = async () => {
        await sweeper?.stop();
        depth?.stop();
        await relay?.stop();
        await workers?.close();
        await jims?.close();
      };
      if (!(await within(rest(), left(reserveMs / 2)))) {
        logger.warn('shutdown grace running out: not waiting for Redis or JIMS (pushes in flight stay queued and are retried)');
      }
      await within(ops?.close(), left(reserveMs / 4));
      await within(Promise.all(connections.map((r) => r.quit().catch(() => r.disconnect()))), left(reserveMs / 4));
      for (const r of connections) r.disconnect();
      logger.info('stopped');
    },

    reloadPatterns: () => reloader?.reload() ?? Promise.resolve(false),

    addresses: () => ({ syslog: receivers?.addresses() ?? [], ops: opsAddress }),
  };
}
