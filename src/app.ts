// The composition root: builds every component from the frozen config, wires the data flow
// (receivers → pipeline → session engine → outbox → relay → queue → push workers → JIMS),
// and owns start/stop order. Nothing else constructs components; main.ts only calls this.
import { hostname, setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { portsOf, probePorts } from './config/ports.js';
import { historySettings, type Config, type Role } from './config/schema.js';
import { consoleWarnings, opsConsole } from './console/mount.js';
import { PtimError } from './errors.js';
import { createEvents } from './events.js';
import { domainAliasWarnings } from './identity/domain-alias.js';
import { createHistoryTap, type HistoryTap } from './history/tap.js';
import type { ListenerAddress } from './ingest/receiver.js';
import { resolveReader } from './ingest/udp.js';
import { createJimsClient, type JimsClient } from './jims/client.js';
import type { Logger } from './log.js';
import { loadLibrary, type Library } from './match/library.js';
import { librarySpec, type LibrarySpec } from './match/runnable.js';
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
import { createOutboxRelay } from './queue/relay.js';
import type { PushOutcomeListener } from './queue/attempt.js';
import { createPushWorkers } from './queue/worker.js';
import { shardsOf, type Shards } from './redis/shards.js';
import { createSessionEngine, type EngineFront } from './sessions/engine.js';
import { openJournaledEngine, type JournaledEngine } from './sessions/journaled.js';
import { budget, within } from './ops/grace.js';
import { createSweeper, type Sweeper } from './sessions/sweeper.js';
import {
  ActiveSessions,
  shardedEngine,
  shardedRelay,
  shardedSweeper,
  shardedWorkers,
  shardQueueConfig,
  type ShardedEngine,
  type ShardedRelay,
  type ShardedWorkers,
} from './shards.js';
import { createThreadedIngest, type ThreadedIngest } from './threads/ingest.js';
import { mergeMetrics } from './threads/metrics.js';
import { createQuarantineStore, patternKey } from './threads/quarantine.js';
import type { Clock, IdentityPusher } from './types.js';

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
  if (has(config, 'ingest') && config.ingest.udp.enabled) {
    try {
      resolveReader(config.ingest.udp.reader);
    } catch (e) {
      errors.push(asPtimError(e, 'PTIM_ERR_UDP_READER'));
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
 * thread. Start-up errors of either thread
 * (bind, TLS files, CIDRs, the pattern library) come back as the same coded PtimErrors.
 */
async function buildIngest(
  config: Config,
  deps: AppDeps,
  command: RedisClient,
  engine: () => EngineFront | undefined,
  history: HistoryTap,
  library: LibrarySpec,
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
    // A storm waits in the hand-off (as raw bytes), not in the engine's buffer, which stays for Redis outages.
    deliverWindow: deliverWindow(config.sessions.bufferMaxEvents),
    library,
    store: createQuarantineStore(command, config.redis.keyPrefix),
    ...(deps.libraryHook ? { libraryHook: deps.libraryHook } : {}),
  });
  return { ingest };
}

/**
 * Events handed to the session engine and not yet applied, at most: ten script calls' worth (the
 * engine applies 100 per call), or half its buffer when that is smaller. More buys no throughput
 * (the script is the limit) and holds a storm's backlog as event objects on the main thread's heap:
 * 5,000 (half the default buffer, as before) peaked 15–30 MB higher in the storm bench, 400 drained slower.
 */
export const deliverWindow = (bufferMaxEvents: number): number => Math.max(1, Math.min(1000, Math.floor(bufferMaxEvents / 2)));

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

/** The Redis connections of one process: one per role, made on demand and closed together. */
function redisPool(target: RedisTarget, config: Config, deps: AppDeps) {
  const opts = {
    connectTimeoutSecs: config.redis.connectTimeoutSecs,
    emit: createEvents({ metrics: deps.metrics, logger: deps.logger, now: () => deps.clock.now() }),
  };
  const connections: RedisClient[] = [];
  const connection = (role: 'worker' | 'producer' | 'command') => {
    const r = createRedisClient(target, role, opts);
    connections.push(r);
    return r;
  };
  return { connections, connection, command: connection('command') };
}

type RedisPool = ReturnType<typeof redisPool>;

/**
 * The main thread's pattern library: loaded and checked here (preflight, then each reload), sent
 * to the matcher thread to run, offered to the background proofs, and shown by the console. A
 * refusal removes the pattern here and in the matcher thread (`drop`).
 */
export interface MainLibrary {
  readonly proofs: PatternProofs;
  /** The library as it runs (refused patterns removed). */
  current(): Library;
  /** Loads the pattern files again, with the verdicts known so far (PtimError PTIM_ERR_PATTERN when refused). */
  load(): Promise<Library>;
  /** Offers a library the matcher thread now runs to the proofs. */
  offer(lib: Library): void;
}

export function mainLibrary(
  patterns: Config['patterns'],
  deps: Pick<AppDeps, 'logger' | 'metrics' | 'clock'> & { checker?: Parameters<typeof createPatternProofs>[0]['checker'] },
  first: Library,
  drop: (keys: readonly string[]) => void,
): MainLibrary {
  let offered = first;
  let current = first;
  const install = (lib: Library) => {
    current = lib;
    const kept = new Set(lib.patterns.map((p) => p.id));
    drop(offered.patterns.filter((p) => !kept.has(p.id)).map(patternKey));
  };
  const proofs = createPatternProofs({
    cfg: patterns,
    logger: deps.logger,
    metrics: deps.metrics,
    install,
    clock: deps.clock,
    ...(deps.checker ? { checker: deps.checker } : {}),
  });
  const offer = (lib: Library) => {
    offered = lib;
    current = proofs.offer(lib);
  };
  offer(first);
  return {
    proofs,
    current: () => current,
    load: () => loadLibrary(patterns.dirs, { verdicts: proofs.store }),
    offer,
  };
}

/** The components of one process; those of roles it does not run stay undefined. */
interface Parts {
  readonly config: Config;
  readonly deps: AppDeps;
  readonly redisTarget: RedisTarget;
  readonly pool: RedisPool;
  readonly history: HistoryTap;
  readonly jims?: JimsClient;
  /** The keyspace's shards (redis.shards) and the active-sessions gauge summed over them. */
  readonly shards: Shards;
  readonly active: ActiveSessions;
  ingest?: ThreadedIngest;
  reloader?: LibraryReloader;
  library?: MainLibrary;
  engine?: EngineFront;
  inner?: ShardedEngine;
  journaled?: JournaledEngine;
  relay?: ShardedRelay;
  depth?: QueueDepthPoller;
  workerRedis?: RedisClient;
  workers?: ShardedWorkers;
  sweeper?: Pick<Sweeper, 'start' | 'stop'>;
  ops?: OpsServer;
  opsAddress?: { address: string; port: number };
}

/** The ingest role's threads, reloader and main-thread library; start-up problems go to `errors`. */
async function addIngest(parts: Parts, pre: PreflightResult, errors: PtimError[]): Promise<void> {
  const { config, deps } = parts;
  // Without a library preflight has reported why (PTIM_ERR_PATTERN).
  if (!pre.library) return;
  const main = mainLibrary(config.patterns, deps, pre.library, (keys) => parts.ingest?.dropPatterns(keys));
  parts.library = main;
  try {
    const built = await buildIngest(
      config,
      deps,
      parts.pool.command,
      () => parts.engine,
      parts.history,
      librarySpec(pre.library),
    );
    parts.ingest = built.ingest;
    parts.reloader = createLibraryReloader({
      dirs: config.patterns.dirs,
      watch: config.patterns.watch,
      // One load per reload, on this thread: the matcher thread compiles what was loaded and checked here.
      load: async () => {
        const lib = await main.load();
        return { ...(await built.ingest.reload(librarySpec(lib))), lib };
      },
      onLibrary: ({ literals, lib }) => {
        built.ingest.setLiterals(literals);
        main.offer(lib);
      },
      logger: deps.logger,
      metrics: deps.metrics,
      clock: deps.clock,
    });
  } catch (e) {
    errors.push(asPtimError(e, 'PTIM_ERR_PATTERN'));
  }
}

/** The session engine the ingest threads deliver to, journaled when sessions.journalDir is set. */
async function addSessionEngine(parts: Parts): Promise<void> {
  const { config, deps } = parts;
  const { logger, metrics, clock } = deps;
  lowerDeliveryPriority(config.ingest.deliveryNice, logger);
  const redis = parts.pool.connection('producer');
  // A short close: the bounded shutdown (shutdownGraceSecs) must not wait 5 s for a Redis that is gone.
  const make = (keyPrefix: string, activeSessions: (n: number) => void) =>
    createSessionEngine({
      redis,
      cfg: config.sessions,
      keyPrefix,
      metrics,
      logger,
      clock,
      replicaAck: replicaAckOf(config.redis),
      closeTimeoutMs: 1000,
      activeSessions,
    });
  parts.inner = shardedEngine(parts.shards, config.sessions.ipScope, make, parts.active);
  if (config.sessions.journalDir)
    parts.journaled = await openJournaledEngine(parts.inner, config.sessions, { logger, metrics, clock });
  parts.engine = parts.journaled ?? parts.inner;
}

/** The push workers of every shard as the bridge runs them: they fetch jobs once `run()` is called. */
export function pushWorkersOf(
  config: Config,
  deps: Pick<AppDeps, 'metrics' | 'logger' | 'clock'>,
  shards: Shards,
  on: { readonly connection: RedisClient; readonly pusher: IdentityPusher; readonly onOutcome?: PushOutcomeListener },
): ShardedWorkers {
  const { metrics, logger, clock } = deps;
  return shardedWorkers(shards, (keyPrefix) =>
    createPushWorkers({
      connection: on.connection,
      queue: shardQueueConfig(config.queue, shards),
      keyPrefix,
      pusher: on.pusher,
      metrics,
      logger,
      clock,
      autorun: false,
      ...(on.onOutcome ? { onOutcome: on.onOutcome } : {}),
      replicaAck: replicaAckOf(config.redis),
    }),
  );
}

/** The relay role (outbox → queue, with the depth poller), the push workers, the sweeper. */
function addDelivery(parts: Parts): void {
  const { config, deps, pool, jims, shards } = parts;
  const { logger, metrics, clock } = deps;
  if (has(config, 'relay')) {
    const redis = pool.connection('producer');
    const consumerName = `${hostname()}-${process.pid}`;
    const relay = shardedRelay(shards, (keyPrefix) =>
      createOutboxRelay({ redis, queue: config.queue, keyPrefix, metrics, logger, consumerName, clock }),
    );
    parts.relay = relay;
    parts.depth = createQueueDepthPoller({
      queue: relay.pushQueues,
      redis: pool.command,
      keyPrefix: shards,
      metrics,
      logger,
      clock,
    });
  }
  if (jims) {
    const connection = pool.connection('worker');
    parts.workerRedis = connection;
    parts.workers = pushWorkersOf(config, deps, shards, { connection, pusher: jims, onOutcome: parts.history.pushed });
  }
  if (has(config, 'sweeper')) {
    const pendingLimitMs = config.queue.maxEventAgeSecs * 1000;
    parts.sweeper = shardedSweeper(shards, (keyPrefix, i) =>
      createSweeper({
        redis: pool.command,
        cfg: config.sessions,
        keyPrefix,
        metrics,
        logger,
        clock,
        pendingLimitMs,
        activeSessions: parts.active.setter(i),
      }),
    );
  }
}

/** JIMS reachability, probed at most every 15 s (a probe is a token request). */
function jimsCheck(jims: JimsClient | undefined, clock: Clock): ReadinessCheck {
  let last: { at: number; result: { ok: boolean; detail?: string } } | undefined;
  return {
    name: 'jims',
    // JIMS being down must not take the bridge out of service: it queues and retries.
    required: false,
    check: async () => {
      if (!jims) return { ok: false, detail: 'jims.primary not configured: events are queued, not pushed' };
      const now = clock.now();
      if (!last || now - last.at > 15_000) {
        const r = await jims.probe();
        last = { at: now, result: { ok: r.reachable, detail: `${r.server}${r.detail ? `: ${r.detail}` : ''}` } };
      }
      return last.result;
    },
  };
}

/** What /readyz and ptim_ready_check report, for the components this process runs. */
function readinessChecks(parts: Parts): () => ReadinessCheck[] {
  const jims = has(parts.config, 'worker') ? jimsCheck(parts.jims, parts.deps.clock) : undefined;
  return () => {
    const { pool, workerRedis, ingest, library, engine, journaled } = parts;
    const command = pool.command;
    const list: ReadinessCheck[] = [
      { name: 'redis', required: true, check: () => ({ ok: command.status === 'ready', detail: command.status }) },
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
    if (library) list.push({ name: 'pattern-proofs', required: false, check: () => library.proofs.readiness() });
    if (engine) {
      list.push({
        name: 'session-engine',
        required: true,
        check: () => ({
          ok: engine.ready(),
          detail: engine.ready() ? undefined : 'Redis calls failing: events buffered in memory',
        }),
      });
    }
    if (journaled) list.push({ name: 'session-journal', required: false, check: () => journaled.status() });
    if (jims) list.push(jims);
    return list;
  };
}

/** The ops server (health, metrics, console) when ops.enabled. */
async function startOps(parts: Parts, checks: () => ReadinessCheck[], registry: () => Promise<Registry>): Promise<void> {
  const { config, deps } = parts;
  const { metrics, logger, clock } = deps;
  if (!config.ops.enabled) return;
  // Readiness as a metric too, so an alert can fire on it (`ptim_ready`).
  const beforeScrape = async () => {
    const r = await runChecks(checks());
    metrics.ready.set(r.ready ? 1 : 0);
    for (const c of r.checks) metrics.readyCheck.set({ check: c.name }, c.ok ? 1 : 0);
  };
  // The receive thread counts received lines in its own registry: read them merged.
  const receivedTotal = async () => {
    const m = (await registry()).getSingleMetric('ptim_syslog_received_total');
    return m ? (await m.get()).values.reduce((s, v) => s + v.value, 0) : 0;
  };
  const library = () => parts.library?.current();
  const extras = opsConsole(config, { redis: parts.pool.command, library, checks, metrics, logger, clock, receivedTotal });
  parts.ops = createOpsServer({ registry, checks, beforeScrape, ...extras });
  parts.opsAddress = await parts.ops.listen(config.ops.port, config.ops.host);
  extras.console?.start();
}

/** Connects and checks Redis, then starts every component, the listeners last. */
async function startParts(parts: Parts, checks: () => ReadinessCheck[], registry: () => Promise<Registry>, onSighup: () => void) {
  const { config, deps, pool, redisTarget } = parts;
  const { logger } = deps;
  const connect = (r: RedisClient) => connectRedis(r, redisTarget.display, config.redis.connectTimeoutSecs);
  await connect(pool.command);
  const info = await checkRedis(pool.command, {
    allowEviction: config.redis.allowEviction,
    logger,
    keyTags: parts.shards.prefixes.map((p) => keyspace(p).tag),
  });
  logger.info(
    { redis: redisTarget.display, redisVersion: info.version, policy: info.maxmemoryPolicy, aof: info.aofEnabled },
    'redis checked',
  );
  for (const r of pool.connections) if (r !== pool.command) await connect(r);
  parts.journaled?.start();
  // Decisions keep the gauge current from here on; until the first one it would read 0.
  if (parts.engine || parts.sweeper) await parts.active.read(pool.command);
  parts.library?.proofs.start(redisVerdicts(pool.command, config.redis.keyPrefix));
  parts.history.start();
  await startOps(parts, checks, registry);
  if (parts.workers) {
    parts.workers.run();
    await parts.workers.waitUntilReady();
  }
  await parts.relay?.start();
  parts.depth?.start();
  parts.sweeper?.start();
  if (parts.ingest) {
    await parts.ingest.start();
    process.on('SIGHUP', onSighup);
  }
  logStarted(parts);
}

function logStarted({ config, deps, ingest, opsAddress }: Parts): void {
  deps.logger.info(
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
}

/**
 * Every step gets what is left of shutdownGraceSecs, so the process ends on time even with
 * Redis or JIMS gone; what Redis has not applied stays in the journal, pushes stay queued.
 */
async function stopParts(parts: Parts, onSighup: () => void): Promise<void> {
  const { config, deps, pool } = parts;
  const { logger } = deps;
  const left = budget(config.shutdownGraceSecs * 1000, () => performance.now());
  const reserveMs = Math.min(2000, config.shutdownGraceSecs * 250);
  logger.info(
    { graceSecs: config.shutdownGraceSecs },
    'stopping: no new syslog; applying what was received; letting pushes finish',
  );
  process.off('SIGHUP', onSighup);
  parts.reloader?.close();
  parts.library?.proofs.close();
  await within(
    (async () => {
      await parts.ingest?.stop();
      await parts.ingest?.close();
    })(),
    left(reserveMs),
  );
  if (parts.engine) {
    await within(parts.engine.drain(), Math.min(5000, left(reserveMs)));
    const kept = await parts.journaled?.closeJournal();
    if (kept)
      logger.warn(
        { events: kept, dir: config.sessions.journalDir },
        'session events Redis has not applied stay in the journal for the next start',
      );
    await within(parts.inner?.close(), left(reserveMs / 2));
  }
  const rest = async () => {
    await parts.sweeper?.stop();
    parts.depth?.stop();
    await parts.relay?.stop();
    await parts.workers?.close();
    await parts.jims?.close();
  };
  if (!(await within(rest(), left(reserveMs / 2)))) {
    logger.warn('shutdown grace running out: not waiting for Redis or JIMS (pushes in flight stay queued and are retried)');
  }
  await within(parts.ops?.close(), left(reserveMs / 4));
  await within(parts.history.stop(), left(reserveMs / 4));
  await within(Promise.all(pool.connections.map((r) => r.quit().catch(() => r.disconnect()))), left(reserveMs / 4));
  for (const r of pool.connections) r.disconnect();
  logger.info('stopped');
}

/** Builds every component of the configured roles; nothing is started or connected yet. */
async function buildParts(config: Config, deps: AppDeps): Promise<Parts> {
  const pre = await preflight(config, deps);
  const errors = [...pre.errors];
  const redisTarget = pre.redisTarget;
  if (!redisTarget) {
    await pre.jims?.close();
    throw PtimError.combine(errors);
  }
  const pool = redisPool(redisTarget, config, deps);
  const shards = shardsOf(config.redis.keyPrefix, config.redis.shards);
  const history = createHistoryTap({
    redis: pool.command,
    keyPrefix: shards,
    cfg: historySettings(config.ops.console),
    metrics: deps.metrics,
    logger: deps.logger,
    clock: deps.clock,
  });
  const active = new ActiveSessions(deps.metrics, shards);
  const parts: Parts = { config, deps, redisTarget, pool, history, shards, active, ...(pre.jims ? { jims: pre.jims } : {}) };
  if (has(config, 'ingest') && errors.length === 0) await addIngest(parts, pre, errors);
  if (errors.length) {
    await pre.jims?.close();
    await parts.ingest?.close();
    throw PtimError.combine(errors);
  }
  for (const w of pre.warnings) deps.logger.warn(w);
  if (parts.ingest) await addSessionEngine(parts);
  addDelivery(parts);
  return parts;
}

export async function createApp(config: Config, deps: AppDeps): Promise<App> {
  const parts = await buildParts(config, deps);
  const checks = readinessChecks(parts);
  const onSighup = () => {
    deps.logger.info('SIGHUP: reloading the pattern library');
    void parts.reloader?.reload();
  };
  const metricsRegistry = async () => mergeMetrics(deps.metrics.registry, (await parts.ingest?.snapshots()) ?? []);
  return {
    engine: parts.engine,
    start: () => startParts(parts, checks, metricsRegistry, onSighup),
    stop: () => stopParts(parts, onSighup),
    reloadPatterns: () => parts.reloader?.reload() ?? Promise.resolve(false),
    addresses: () => ({ syslog: parts.ingest?.addresses() ?? [], ops: parts.opsAddress }),
    async drain() {
      await parts.ingest?.drain();
      await parts.engine?.drain();
    },
    metricsRegistry,
  };
}
