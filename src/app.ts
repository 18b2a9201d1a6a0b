// The composition root: builds every component from the frozen config, wires the data flow
// (receivers → pipeline → session engine → outbox → relay → queue → push workers → JIMS),
// and owns start/stop order. Nothing else constructs components; main.ts only calls this.
import { hostname, setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { portsOf, probePorts } from './config/ports.js';
import type { Config, Role } from './config/schema.js';
import { consoleWarnings, opsConsole } from './console/mount.js';
import { PtimError } from './errors.js';
import { domainAliasWarnings } from './identity/domain-alias.js';
import { createHistoryTap, type HistoryTap } from './history/tap.js';
import type { ListenerAddress } from './ingest/receiver.js';
import { createJimsClient, type JimsClient } from './jims/client.js';
import type { Logger } from './log.js';
import { loadLibrary, type Library } from './match/library.js';
import { createPatternProofs, verdictStoreFor, type PatternProofs } from './match/proofs.js';
import { createLibraryReloader, type LibraryReloader } from './match/reload.js';
import { redisVerdicts } from './match/verdict-redis.js';
import type { Metrics } from './ops/metrics.js';
import { createOpsServer, runChecks, type OpsServer, type ReadinessCheck } from './ops/server.js';
import { createQueueDepthPoller, type QueueDepthPoller } from './queue/depth.js';
import { checkRedis } from './redis/check.js';
import { connectRedis, createRedisClient, resolveRedisTarget, type RedisClient, type RedisTarget } from './redis/connection.js';
import { keyspace } from './redis/keys.js';
import { replicaAckOf } from './redis/replication.js';
import { createOutboxRelay, type OutboxRelay } from './queue/relay.js';
import { createPushWorkers, type PushWorkers } from './queue/worker.js';
import { createSessionEngine, type EngineFront, type SessionEngine } from './sessions/engine.js';
import { openJournaledEngine, type JournaledEngine } from './sessions/journaled.js';
import { countSessions } from './sessions/query.js';
import { budget, within } from './ops/grace.js';
import { createSweeper, type Sweeper } from './sessions/sweeper.js';
import { createThreadedIngest, type ThreadedIngest } from './threads/ingest.js';
import { mergeMetrics } from './threads/metrics.js';
import { createQuarantineStore, patternKey } from './threads/quarantine.js';
import type { Clock } from './types.js';

export interface AppDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
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
  readonly engine?: EngineFront;
}

export interface PreflightResult {
  readonly library?: Library;
  /** The JIMS client, built (templates compiled, secrets read) once: the caller uses or closes it. */
  readonly jims?: JimsClient;
  /** Where and how to reach Redis, with the files `redis.*` names read (absent when one cannot be). */
  readonly redisTarget?: RedisTarget;
  /** Every problem found, grouped by error code; empty when the bridge can start. */
  readonly errors: readonly PtimError[];
  readonly warnings: readonly string[];
}

const has = (config: Config, role: Role) => config.roles.includes(role);

/**
 * Everything that can be checked before the bridge starts, cheap checks first so that every
 * problem is reported in one run before any slow step: ports already in use, the JIMS
 * templates/secrets, the files redis.* names, then the pattern library (with its self-test). The
 * files every setting names were checked when the configuration was loaded (config/files.ts).
 * `ptim-bridge check` prints this; `serve` refuses to start unless it is clean.
 */
export async function preflight(config: Config, deps: Pick<AppDeps, 'metrics' | 'clock' | 'logger'>): Promise<PreflightResult> {
  const errors: PtimError[] = [];
  const warnings: string[] = [];
  const tls = config.ingest.tls;
  if (config.ingest.idleTimeoutSecs !== undefined) {
    warnings.push('ingest.idleTimeoutSecs is no longer used: quiet connections stay open (see ingest.firstFrameTimeoutSecs)');
  }
  if (tls.enabled && tls.clientCaFile && !tls.requireClientCert) {
    warnings.push('ingest.tls.clientCaFile is set but requireClientCert is false: client certificates are not checked');
  }
  warnings.push(...consoleWarnings(config));
  if (!config.jims.primary && has(config, 'worker')) {
    warnings.push('jims.primary is not set: events are queued but not pushed until it is configured');
  }
  warnings.push(...domainAliasWarnings(config.identity));
  const bind = await probePorts(portsOf(config));
  if (bind.length) errors.push(new PtimError('PTIM_ERR_BIND', `${bind.length} port(s) cannot be bound`, bind));

  let jims: JimsClient | undefined;
  if (config.jims.primary && has(config, 'worker')) {
    try {
      // The client logs its own start-up warnings (TLS verification off, plain HTTP) to deps.logger.
      jims = createJimsClient(config.jims, { metrics: deps.metrics, logger: deps.logger, clock: deps.clock });
    } catch (e) {
      errors.push(asPtimError(e, 'PTIM_ERR_TEMPLATE'));
    }
  }

  // The files redis.* names (password, CA, client certificate): read once, for every connection.
  let redisTarget: RedisTarget | undefined;
  try {
    redisTarget = await resolveRedisTarget(config.redis);
  } catch (e) {
    errors.push(asPtimError(e, 'PTIM_ERR_SECRET'));
  }

  // The slow step, last: every cheap problem above is already known.
  let library: Library | undefined;
  if (has(config, 'ingest')) {
    try {
      library = await loadLibrary(config.patterns.dirs, { verdicts: verdictStoreFor(config.patterns) });
      for (const p of library.pendingProofs)
        warnings.push(
          `pattern ${p.patternId} (${p.file}:${p.line}): regex safety proof pending; it runs meanwhile, guarded by ` +
            'the match timeout, and is proven in the background (prove it now: ptim-bridge patterns prove)',
        );
    } catch (e) {
      errors.push(asPtimError(e, 'PTIM_ERR_PATTERN'));
    }
  }
  return { library, jims, redisTarget, errors, warnings };
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
async function buildIngest(
  config: Config,
  deps: AppDeps,
  command: RedisClient,
  engine: () => EngineFront | undefined,
  history: HistoryTap,
) {
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
      for (const event of events) {
        const correlationId = nextCorrelationId();
        e.submit(event, correlationId);
        history.line(event, correlationId);
      }
      // With a journal the events are safe once written, so a Redis outage does not hold them in the hand-off.
      return e.accepted ? e.accepted() : e.drain();
    },
    // Half the engine's buffer: a storm waits in the hand-off; the buffer stays for Redis outages.
    deliverWindow: Math.max(1, Math.floor(config.sessions.bufferMaxEvents / 2)),
    store: createQuarantineStore(command, config.redis.keyPrefix),
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
  const pre = await preflight(config, deps);
  const errors = [...pre.errors];

  const keyPrefix = config.redis.keyPrefix;
  const replicaAck = replicaAckOf(config.redis);
  const redisTarget = pre.redisTarget;
  if (!redisTarget) {
    await pre.jims?.close();
    throw PtimError.combine(errors);
  }
  const redisOpts = { connectTimeoutSecs: config.redis.connectTimeoutSecs, logger, clock };
  const connections: RedisClient[] = [];
  const connection = (role: 'worker' | 'producer' | 'command') => {
    const r = createRedisClient(redisTarget, role, redisOpts);
    connections.push(r);
    return r;
  };
  const command = connection('command');
  const history = createHistoryTap({ redis: command, keyPrefix, cfg: config.ops.console.history, metrics, logger, clock });

  let ingest: ThreadedIngest | undefined;
  let engine: EngineFront | undefined;
  let inner: SessionEngine | undefined;
  let journaled: JournaledEngine | undefined;
  let reloader: LibraryReloader | undefined;
  let proofs: PatternProofs | undefined;
  let relay: OutboxRelay | undefined;
  let depth: QueueDepthPoller | undefined;
  let workers: PushWorkers | undefined;
  let sweeper: Sweeper | undefined;
  let ops: OpsServer | undefined;
  let opsAddress: { address: string; port: number } | undefined;

  if (has(config, 'ingest') && errors.length === 0) {
    // The main thread's copy of the library (loaded by preflight) drives the background proofs;
    // the matcher thread loads and runs its own.
    if (pre.library) {
      const running = pre.library;
      // A refusal removes the pattern from the main thread's copy; the matcher thread skips it too.
      const install = (lib: Library) => {
        const kept = new Set(lib.patterns.map((p) => p.id));
        ingest?.dropPatterns(running.patterns.filter((p) => !kept.has(p.id)).map(patternKey));
      };
      const pr = createPatternProofs({ cfg: config.patterns, logger, metrics, install });
      pr.offer(running);
      proofs = pr;
    }
    try {
      ({ ingest, reloader } = await buildIngest(config, deps, command, () => engine, history));
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
  if (ingest) {
    lowerDeliveryPriority(config.ingest.deliveryNice, logger);
    // A short close: the bounded shutdown (shutdownGraceSecs) must not wait 5 s for a Redis that is gone.
    inner = createSessionEngine({
      redis: connection('producer'),
      cfg: config.sessions,
      keyPrefix,
      metrics,
      logger,
      clock,
      replicaAck,
      closeTimeoutMs: 1000,
    });
    if (config.sessions.journalDir) journaled = await openJournaledEngine(inner, config.sessions, { logger, metrics, clock });
    engine = journaled ?? inner;
  }

  if (has(config, 'relay')) {
    relay = createOutboxRelay({
      redis: connection('producer'),
      queue: config.queue,
      keyPrefix,
      metrics,
      logger,
      consumerName: `${hostname()}-${process.pid}`,
      clock,
    });
    depth = createQueueDepthPoller({ queue: relay.pushQueue, redis: command, keyPrefix, metrics, logger, clock });
  }

  const jims = pre.jims;
  const workerRedis = jims ? connection('worker') : undefined;
  if (jims && workerRedis) {
    workers = createPushWorkers({
      connection: workerRedis,
      queue: config.queue,
      keyPrefix,
      pusher: jims,
      metrics,
      logger,
      clock,
      autorun: false,
      onOutcome: history.pushed,
      replicaAck,
    });
  }

  if (has(config, 'sweeper')) {
    const pendingLimitMs = config.queue.maxEventAgeSecs * 1000;
    sweeper = createSweeper({ redis: command, cfg: config.sessions, keyPrefix, metrics, logger, clock, pendingLimitMs });
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
    if (workerRedis) {
      // A push whose outcome cannot be recorded would be re-sent: not ready while that connection is down.
      list.push({
        name: 'redis-push-records',
        required: true,
        check: () => ({ ok: workerRedis.status === 'ready', detail: workerRedis.status }),
      });
    }
    if (ingest) list.push(...ingest.checks());
    // A regex awaiting its proof runs, guarded by the match timeout: not a reason to stop receiving.
    const pr = proofs;
    if (pr) list.push({ name: 'pattern-proofs', required: false, check: () => pr.readiness() });
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

  const metricsRegistry = async () => mergeMetrics(metrics.registry, (await ingest?.snapshots()) ?? []);

  return {
    engine,
    async start() {
      const connect = (r: RedisClient) => connectRedis(r, redisTarget.display, config.redis.connectTimeoutSecs);
      await connect(command);
      const info = await checkRedis(command, {
        allowEviction: config.redis.allowEviction,
        logger,
        keyTag: keyspace(keyPrefix).tag,
      });
      logger.info(
        { redis: redisTarget.display, redisVersion: info.version, policy: info.maxmemoryPolicy, aof: info.aofEnabled },
        'redis checked',
      );
      for (const r of connections) if (r !== command) await connect(r);
      journaled?.start();
      // Decisions keep the gauge current from here on; until the first one it would read 0.
      if (engine || sweeper) metrics.sessionsActive.set(await countSessions(command, keyPrefix));
      proofs?.start(redisVerdicts(command, keyPrefix));
      history.start();

      if (config.ops.enabled) {
        // Readiness as a metric too, so an alert can fire on it (`ptim_ready`).
        const beforeScrape = async () => {
          const r = await runChecks(checks());
          metrics.ready.set(r.ready ? 1 : 0);
          for (const c of r.checks) metrics.readyCheck.set({ check: c.name }, c.ok ? 1 : 0);
        };
        // The console loads the library from the pattern directories (the matcher thread's is not shared).
        // The receive thread counts received lines in its own registry: read them merged.
        const receivedTotal = async () => {
          const m = (await metricsRegistry()).getSingleMetric('ptim_syslog_received_total');
          return m ? (await m.get()).values.reduce((s, v) => s + v.value, 0) : 0;
        };
        const extras = opsConsole(config, {
          redis: command,
          library: () => undefined,
          checks,
          metrics,
          logger,
          clock,
          receivedTotal,
        });
        ops = createOpsServer({ registry: metricsRegistry, checks, beforeScrape, ...extras });
        opsAddress = await ops.listen(config.ops.port, config.ops.host);
        extras.console?.start();
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
          ops: opsAddress ? `${config.ops.tls.enabled ? 'https' : 'http'}://${opsAddress.address}:${opsAddress.port}` : undefined,
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
      proofs?.close();
      await within(
        (async () => {
          await ingest?.stop();
          await ingest?.close();
        })(),
        left(reserveMs),
      );
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
      await within(history.stop(), left(reserveMs / 4));
      await within(Promise.all(connections.map((r) => r.quit().catch(() => r.disconnect()))), left(reserveMs / 4));
      for (const r of connections) r.disconnect();
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
