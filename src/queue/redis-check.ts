// Redis connections per role and the start-up check of the Redis server the bridge relies on
// (no eviction, version 7+, persistence), so a misconfigured Redis fails loudly at start
// instead of silently losing queued identity events later.
import { Redis, type RedisOptions } from 'ioredis';
import { PtimError } from '../errors.js';
import { maskUrl, rateLimiter, silentLogger, type Logger } from '../log.js';
import { systemClock, type Clock } from '../types.js';

/**
 * worker: BullMQ workers block on Redis; they must wait out outages (maxRetriesPerRequest null).
 * producer: enqueuers fail fast while Redis is down so the caller can buffer and report not-ready.
 * command: CLI, admin and health queries: a few retries, then an error the operator sees.
 */
export type RedisRole = 'worker' | 'producer' | 'command';

export interface RedisConnectionOptions {
  connectTimeoutSecs: number;
  logger?: Logger;
  clock?: Clock;
  /** Extra ioredis options (tests); role options win where they matter. */
  extra?: RedisOptions;
}

export function redisRoleOptions(role: RedisRole): RedisOptions {
  switch (role) {
    case 'worker':
      return { maxRetriesPerRequest: null, enableOfflineQueue: true };
    case 'producer':
      return { maxRetriesPerRequest: 1, enableOfflineQueue: false };
    case 'command':
      return { maxRetriesPerRequest: 2, enableOfflineQueue: true };
  }
}

/**
 * A lazily connecting ioredis client for `role`; call `connectRedis` before use (a producer
 * without an offline queue rejects commands until it is ready).
 */
export function createRedisConnection(url: string, role: RedisRole, opts: RedisConnectionOptions): Redis {
  const logger = opts.logger ?? silentLogger;
  const redis = new Redis(url, {
    ...opts.extra,
    ...redisRoleOptions(role),
    lazyConnect: true,
    connectTimeout: opts.connectTimeoutSecs * 1000,
    connectionName: `ptim-bridge-${role}`,
    // Reconnect forever with a capped delay: Redis restarts are expected, giving up is not.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
  });
  // ioredis emits 'error' on every failed reconnect; unhandled it would crash or spam.
  const clock = opts.clock ?? systemClock;
  const limit = rateLimiter(6, () => clock.now());
  redis.on('error', (err: Error) => {
    const { allowed, suppressed } = limit();
    if (allowed) logger.warn({ role, redis: maskUrl(url), err: err.message, suppressed }, 'redis connection error');
  });
  return redis;
}

/** Connects (if not yet) within connectTimeoutSecs, or throws PTIM_ERR_REDIS_UNREACHABLE. */
export async function connectRedis(redis: Redis, url: string, connectTimeoutSecs: number): Promise<void> {
  if (redis.status === 'ready') return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${connectTimeoutSecs}s`)), connectTimeoutSecs * 1000);
  });
  const ready = redis.status === 'wait' ? redis.connect() : new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  try {
    await Promise.race([ready, timeout]);
  } catch (e) {
    throw new PtimError('PTIM_ERR_REDIS_UNREACHABLE', `cannot reach Redis at ${maskUrl(url)}: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

export interface RedisCheckResult {
  readonly version: string;
  /** undefined when neither CONFIG GET nor INFO told us. */
  readonly maxmemoryPolicy: string | undefined;
  readonly aofEnabled: boolean | undefined;
  readonly warnings: readonly string[];
}

const MIN_MAJOR = 7;

/** `field:value` lines of an INFO reply. */
export function parseInfo(info: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) m.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return m;
}

/** CONFIG GET may be renamed or denied (managed Redis, ACLs): undefined then, never a crash. */
async function configGet(redis: Redis, name: string): Promise<string | undefined> {
  try {
    const reply = (await redis.config('GET', name)) as unknown;
    if (Array.isArray(reply) && reply.length >= 2 && typeof reply[1] === 'string') return reply[1];
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies the Redis server: maxmemory-policy noeviction (else PTIM_ERR_REDIS_EVICTION unless
 * allowEviction, then a loud warning), Redis ≥ 7 (PTIM_ERR_REDIS_VERSION), and warns when AOF
 * is off. Returns what it found plus the warnings it logged.
 */
export async function checkRedis(redis: Redis, opts: { allowEviction: boolean; logger?: Logger }): Promise<RedisCheckResult> {
  const logger = opts.logger ?? silentLogger;
  const warnings: string[] = [];
  const warn = (msg: string, extra: Record<string, unknown> = {}) => {
    warnings.push(msg);
    logger.warn(extra, msg);
  };

  let info: Map<string, string>;
  try {
    info = parseInfo(await redis.info());
  } catch (e) {
    throw new PtimError('PTIM_ERR_REDIS_UNREACHABLE', `Redis did not answer INFO: ${(e as Error).message}`);
  }

  const version = info.get('redis_version') ?? 'unknown';
  const major = Number(version.split('.')[0]);
  if (!Number.isFinite(major) || major < MIN_MAJOR) {
    throw new PtimError(
      'PTIM_ERR_REDIS_VERSION',
      `Redis ${version} is too old; ptim-bridge needs Redis ${MIN_MAJOR}.0 or newer`,
      [{ path: 'redis.url', message: `server reports redis_version ${version}` }],
    );
  }

  // INFO is the fallback: it is rarely disabled and reports both settings on Redis 7.
  const policy = (await configGet(redis, 'maxmemory-policy')) ?? info.get('maxmemory_policy');
  const appendonly = await configGet(redis, 'appendonly');
  const aofInfo = info.get('aof_enabled');
  const aofEnabled = appendonly !== undefined ? appendonly === 'yes' : aofInfo !== undefined ? aofInfo === '1' : undefined;

  if (policy === undefined) {
    warn(
      'cannot read Redis maxmemory-policy (CONFIG GET denied and INFO silent); make sure it is noeviction, or queued events may be evicted',
    );
  } else if (policy !== 'noeviction') {
    const fix =
      'run `redis-cli CONFIG SET maxmemory-policy noeviction` (and `CONFIG REWRITE`), or set `maxmemory-policy noeviction` in redis.conf / the compose command (`--maxmemory-policy noeviction`)';
    if (!opts.allowEviction) {
      throw new PtimError(
        'PTIM_ERR_REDIS_EVICTION',
        `Redis maxmemory-policy is ${policy}; Redis could evict queued identity events. Fix: ${fix}. To start anyway set redis.allowEviction: true`,
        [{ path: 'redis.allowEviction', message: `maxmemory-policy is ${policy}, expected noeviction` }],
      );
    }
    warn(`REDIS MAY EVICT QUEUED IDENTITY EVENTS: maxmemory-policy is ${policy} and redis.allowEviction is true. Fix: ${fix}`, {
      maxmemoryPolicy: policy,
    });
  }

  if (aofEnabled === false) {
    warn(
      'Redis AOF persistence is off: queued events and session state are lost if Redis restarts (set appendonly yes, appendfsync everysec)',
    );
  } else if (aofEnabled === undefined) {
    warn('cannot tell whether Redis AOF persistence is on; queued events survive a Redis restart only with persistence');
  }

  return { version, maxmemoryPolicy: policy, aofEnabled, warnings };
}
