// The start-up check of the Redis server(s) the bridge relies on: a writable master (never a
// replica), the keys' Cluster slot served, no eviction, version 7+, persistence. A misconfigured
// Redis fails loudly at start instead of silently losing queued identity events later.
import { Cluster, type Redis } from 'ioredis';
import { PtimError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { RedisClient } from './connection.js';

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

export interface RedisCheckOptions {
  readonly allowEviction: boolean;
  readonly logger?: Logger;
  /** The keys' hash tags (`{prefix}`, one per shard): in a Cluster, each one's slot must be served. */
  readonly keyTags?: readonly string[];
}

/**
 * Verifies the Redis the bridge will write to. Standalone/Sentinel: a master (PTIM_ERR_REDIS_REPLICA
 * for a replica), not a Cluster node (PTIM_ERR_REDIS_CLUSTER: set redis.cluster). Cluster: the
 * cluster is up and a master serves each shard's slot (a warning when shards share a master that
 * another master could take). Then, on every master that holds keys:
 * Redis ≥ 7 (PTIM_ERR_REDIS_VERSION), maxmemory-policy noeviction (PTIM_ERR_REDIS_EVICTION unless
 * allowEviction, then a loud warning), and a warning when AOF is off.
 */
export async function checkRedis(client: RedisClient, opts: RedisCheckOptions): Promise<RedisCheckResult> {
  const logger = opts.logger ?? silentLogger;
  const warnings: string[] = [];
  const warn = (msg: string, extra: Record<string, unknown> = {}) => {
    if (warnings.includes(msg)) return;
    warnings.push(msg);
    logger.warn(extra, msg);
  };
  const masters = client instanceof Cluster ? await clusterMasters(client, opts.keyTags ?? ['{ptim}'], warn) : [client];
  let result: Omit<RedisCheckResult, 'warnings'> | undefined;
  for (const node of masters) {
    const info = await readInfo(node);
    if (!(client instanceof Cluster)) refuseWrongServer(info);
    const found = await checkServer(node, info, opts.allowEviction, warn);
    result ??= found;
  }
  return { ...(result ?? { version: 'unknown', maxmemoryPolicy: undefined, aofEnabled: undefined }), warnings };
}

async function readInfo(redis: Redis): Promise<Map<string, string>> {
  try {
    return parseInfo(await redis.info());
  } catch (e) {
    throw new PtimError('PTIM_ERR_REDIS_UNREACHABLE', `Redis did not answer INFO: ${(e as Error).message}`);
  }
}

/** A replica takes no writes and a Cluster node answers MOVED for most slots: both lose events. */
function refuseWrongServer(info: Map<string, string>): void {
  if (info.get('cluster_enabled') === '1')
    throw new PtimError('PTIM_ERR_REDIS_CLUSTER', 'this Redis is a Cluster node: list the cluster nodes in redis.cluster.nodes', [
      { path: 'redis.cluster', message: 'cluster_enabled is 1 but redis.cluster is not set' },
    ]);
  if (info.get('role') === 'slave')
    throw new PtimError(
      'PTIM_ERR_REDIS_REPLICA',
      `this Redis is a replica (of ${info.get('master_host') ?? '?'}:${info.get('master_port') ?? '?'}): point redis.url at the master, or use redis.sentinel to follow failovers`,
      [{ path: 'redis.url', message: 'role is replica; the bridge must write to a master' }],
    );
}

/** The cluster is up and serves every tag's slot; returns every master (each may hold keys after a reshard). */
async function clusterMasters(cluster: Cluster, keyTags: readonly string[], warn: (msg: string) => void): Promise<Redis[]> {
  const state = parseInfo(String(await cluster.cluster('INFO'))).get('cluster_state');
  const ranges = await cluster.cluster('SLOTS');
  const servers = new Set<string>();
  for (const keyTag of keyTags) {
    const slot = Number(await cluster.cluster('KEYSLOT', keyTag));
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    if (state !== 'ok' || !range)
      throw new PtimError(
        'PTIM_ERR_REDIS_CLUSTER',
        `Redis Cluster is not serving the bridge's keys (cluster_state ${state ?? '?'}, slot ${slot} of ${keyTag} ${range ? 'served' : 'not served'})`,
        [{ path: 'redis.cluster.nodes', message: `slot ${slot} must be assigned to a reachable master` }],
      );
    const [host, port] = range[2] ?? [];
    servers.add(`${host}:${port}`);
  }
  const masters = cluster.nodes('master');
  if (servers.size < Math.min(keyTags.length, masters.length))
    warn(
      `redis.shards: ${keyTags.length} shards are served by ${servers.size} of ${masters.length} masters (slots were moved): capacity grows only with the masters that hold shards`,
    );
  return masters;
}

async function checkServer(
  redis: Redis,
  info: Map<string, string>,
  allowEviction: boolean,
  warn: (msg: string, extra?: Record<string, unknown>) => void,
): Promise<Omit<RedisCheckResult, 'warnings'>> {
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
  checkEviction(policy, allowEviction, warn);

  if (aofEnabled === false) {
    warn(
      'Redis AOF persistence is off: queued events and session state are lost if Redis restarts (set appendonly yes, appendfsync everysec)',
    );
  } else if (aofEnabled === undefined) {
    warn('cannot tell whether Redis AOF persistence is on; queued events survive a Redis restart only with persistence');
  }
  return { version, maxmemoryPolicy: policy, aofEnabled };
}

function checkEviction(
  policy: string | undefined,
  allowEviction: boolean,
  warn: (msg: string, extra?: Record<string, unknown>) => void,
): void {
  if (policy === undefined) {
    warn(
      'cannot read Redis maxmemory-policy (CONFIG GET denied and INFO silent); make sure it is noeviction, or queued events may be evicted',
    );
    return;
  }
  if (policy === 'noeviction') return;
  const fix =
    'run `redis-cli CONFIG SET maxmemory-policy noeviction` (and `CONFIG REWRITE`), or set `maxmemory-policy noeviction` in redis.conf / the compose command (`--maxmemory-policy noeviction`)';
  if (!allowEviction) {
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
