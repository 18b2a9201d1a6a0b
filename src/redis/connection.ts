// The one Redis connection factory. Every client of the bridge (session engine, relay, BullMQ
// queue and workers, sweeper, CLI) is built here from the `redis.*` settings: a standalone URL,
// Sentinel, or Cluster; TLS with a private CA; an ACL user and a password file. Failover replies
// (READONLY after a Sentinel promotion, MOVED/ASK/TRYAGAIN/CLUSTERDOWN in a Cluster) are ridden
// out here by reconnecting or redirecting, so callers only ever see "not now", never "never".
import { readFile as fsReadFile } from 'node:fs/promises';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import type { RedisConfig } from '../config/schema.js';
import { PtimError, type Problem } from '../errors.js';
import { ignoreEvents, type Emit } from '../events.js';
import { maskUrl } from '../log.js';

/** A standalone/Sentinel client or a Cluster client: both speak the commands the bridge uses. */
export type RedisClient = Redis | Cluster;

/**
 * worker: BullMQ workers block on Redis; they must wait out outages (maxRetriesPerRequest null).
 * producer: enqueuers fail fast while Redis is down so the caller can buffer and report not-ready.
 * command: CLI, admin and health queries: a few retries, then an error the operator sees.
 */
export type RedisRole = 'worker' | 'producer' | 'command';

export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

/** Where and how to connect, with every file already read. Built once per process. */
export interface RedisTarget {
  readonly mode: RedisMode;
  /** For logs and errors; never contains a password. */
  readonly display: string;
  /** Node options shared by every connection (credentials, TLS). */
  readonly node: RedisOptions;
  /** standalone: the URL (credentials in it are overridden by `node`). */
  readonly url?: string;
  readonly sentinels?: readonly { host: string; port: number }[];
  readonly sentinelName?: string;
  readonly sentinelNode?: Pick<
    RedisOptions,
    'sentinelUsername' | 'sentinelPassword' | 'enableTLSForSentinelMode' | 'sentinelTLS'
  >;
  readonly clusterNodes?: readonly { host: string; port: number }[];
}

export interface RedisConnectionOptions {
  connectTimeoutSecs: number;
  /** Where connection errors are reported (counted, logged at a bounded rate); nowhere when absent. */
  emit?: Emit;
  /** Extra ioredis node options (tests); role options win where they matter. */
  extra?: RedisOptions;
}

export function redisRoleOptions(role: RedisRole): Pick<RedisOptions, 'maxRetriesPerRequest' | 'enableOfflineQueue'> {
  switch (role) {
    case 'worker':
      return { maxRetriesPerRequest: null, enableOfflineQueue: true };
    case 'producer':
      return { maxRetriesPerRequest: 1, enableOfflineQueue: false };
    case 'command':
      return { maxRetriesPerRequest: 2, enableOfflineQueue: true };
  }
}

/** Parses `host:port` (IPv6 as `[addr]:port`), as validated by the schema. */
export function parseHostPort(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  const host = v.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(v.slice(i + 1)) };
}

/** Reconnect forever with a capped delay: Redis restarts and failovers are expected, giving up is not. */
const backoff = (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000);

/**
 * After a Sentinel promotion the old master answers writes with READONLY: reconnect (which asks
 * the sentinels again) and resend the command. LOADING and MASTERDOWN are the same "not yet".
 */
export const reconnectOnFailoverReply = (err: Error): 2 | false =>
  /^(READONLY|LOADING|MASTERDOWN)\b/.test(err.message) ? 2 : false;

type ReadFile = (path: string) => Promise<Buffer>;

/** Reads every file the settings name (password, CA, client certificate); all failures at once. */
export async function resolveRedisTarget(cfg: RedisConfig, readFile: ReadFile = fsReadFile): Promise<RedisTarget> {
  const problems: Problem[] = [];
  const read = async (setting: string, file: string | undefined): Promise<Buffer | undefined> => {
    if (!file) return undefined;
    try {
      return await readFile(file);
    } catch (e) {
      problems.push({ path: `redis.${setting}`, message: `cannot read ${file}: ${(e as Error).message}` });
      return undefined;
    }
  };
  const text = (b: Buffer | undefined) => b?.toString('utf8').replace(/\r?\n$/, '');
  const password = text(await read('passwordFile', cfg.passwordFile));
  const sentinelPassword = cfg.sentinel?.password ?? text(await read('sentinel.passwordFile', cfg.sentinel?.passwordFile));
  const ca = await read('tls.caFile', cfg.tls?.caFile);
  const cert = await read('tls.certFile', cfg.tls?.certFile);
  const key = await read('tls.keyFile', cfg.tls?.keyFile);
  if (problems.length > 0) throw new PtimError('PTIM_ERR_SECRET', 'cannot read a file named in redis.*', problems);

  const wantsTls = Boolean(cfg.tls) || cfg.url.startsWith('rediss://');
  const tls: ConnectionOptions | undefined = wantsTls
    ? {
        rejectUnauthorized: true,
        ...(ca ? { ca } : {}),
        ...(cert && key ? { cert, key } : {}),
        ...(cfg.tls?.servername ? { servername: cfg.tls.servername } : {}),
      }
    : undefined;
  const fromUrl = urlCredentials(cfg.url);
  const username = cfg.username ?? fromUrl.username;
  const pass = password ?? fromUrl.password;
  const node: RedisOptions = {
    ...(username ? { username } : {}),
    ...(pass ? { password: pass } : {}),
    ...(tls ? { tls } : {}),
  };

  if (cfg.sentinel) {
    const s = cfg.sentinel;
    return {
      mode: 'sentinel',
      display: `sentinel ${s.name} via ${s.sentinels.join(',')}`,
      node,
      sentinels: s.sentinels.map(parseHostPort),
      sentinelName: s.name,
      sentinelNode: {
        ...(s.username ? { sentinelUsername: s.username } : {}),
        ...(sentinelPassword ? { sentinelPassword } : {}),
        ...(s.tls ? { enableTLSForSentinelMode: true, ...(tls ? { sentinelTLS: tls } : {}) } : {}),
      },
    };
  }
  if (cfg.cluster) {
    return {
      mode: 'cluster',
      display: `cluster ${cfg.cluster.nodes.join(',')}`,
      node,
      clusterNodes: cfg.cluster.nodes.map(parseHostPort),
    };
  }
  return { mode: 'standalone', display: maskUrl(cfg.url), node, url: cfg.url };
}

function urlCredentials(url: string): { username?: string; password?: string } {
  try {
    const u = new URL(url);
    return {
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    };
  } catch {
    return {};
  }
}

/** A standalone target from a bare URL (tests, benches and the demo's private redis-server). */
function urlTarget(url: string): RedisTarget {
  return { mode: 'standalone', display: maskUrl(url), node: {}, url };
}

const lastErrors = new WeakMap<RedisClient, Error>();

/** A lazily connecting client for `role`; call `connectRedis` before use. */
export function createRedisClient(target: RedisTarget, role: RedisRole, opts: RedisConnectionOptions): RedisClient {
  const roleOpts = redisRoleOptions(role);
  const nodeOpts: RedisOptions = {
    ...opts.extra,
    ...target.node,
    maxRetriesPerRequest: roleOpts.maxRetriesPerRequest,
    connectTimeout: opts.connectTimeoutSecs * 1000,
    connectionName: `ptim-bridge-${role}`,
    reconnectOnError: reconnectOnFailoverReply,
  };
  let client: RedisClient;
  if (target.mode === 'cluster') {
    const clusterOpts: ClusterOptions = {
      redisOptions: nodeOpts,
      enableOfflineQueue: roleOpts.enableOfflineQueue,
      lazyConnect: true,
      clusterRetryStrategy: backoff,
      // Slots move during a failover: wait and follow instead of failing the command.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
      retryDelayOnTryAgain: 200,
      maxRedirections: 32,
      slotsRefreshTimeout: opts.connectTimeoutSecs * 1000,
    };
    client = new Cluster([...(target.clusterNodes ?? [])], clusterOpts);
  } else {
    const common: RedisOptions = {
      ...nodeOpts,
      enableOfflineQueue: roleOpts.enableOfflineQueue,
      lazyConnect: true,
      retryStrategy: backoff,
    };
    client =
      target.mode === 'sentinel'
        ? new Redis({
            ...common,
            ...target.sentinelNode,
            sentinels: [...(target.sentinels ?? [])],
            name: target.sentinelName,
            role: 'master',
            sentinelRetryStrategy: backoff,
            // Subscribe to +switch-master so a promotion is followed at once, not at the next error.
            failoverDetector: true,
          })
        : new Redis(target.url ?? '', common);
  }
  // ioredis emits 'error' on every failed reconnect; unhandled it would crash or spam.
  const emit = opts.emit ?? ignoreEvents;
  client.on('error', (err: Error) => {
    lastErrors.set(client, err);
    emit('redis_connection_error', { role, redis: target.display, err });
  });
  return client;
}

/**
 * Another connection like `client` with node options overridden (a blocking reader needs its
 * own socket). Sentinel and Cluster clients keep following failovers.
 */
export function duplicateClient(client: RedisClient, override: RedisOptions): RedisClient {
  if (client instanceof Cluster) {
    const { enableOfflineQueue, ...node } = override;
    return client.duplicate([], {
      redisOptions: { ...client.options.redisOptions, ...node },
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      lazyConnect: false,
    });
  }
  return client.duplicate({ ...override, lazyConnect: false });
}

/** Connects (if not yet) within connectTimeoutSecs, or throws PTIM_ERR_REDIS_UNREACHABLE with the real reason. */
export async function connectRedis(client: RedisClient, display: string, connectTimeoutSecs: number): Promise<void> {
  if (client.status === 'ready') return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${connectTimeoutSecs}s`)), connectTimeoutSecs * 1000);
  });
  const ready =
    client.status === 'wait' ? client.connect() : new Promise<void>((resolve) => client.once('ready', () => resolve()));
  try {
    await Promise.race([ready, timeout]);
  } catch (e) {
    const reason = lastErrors.get(client)?.message ?? (e as Error).message;
    const detail = reason === (e as Error).message ? reason : `${reason} (${(e as Error).message})`;
    throw new PtimError('PTIM_ERR_REDIS_UNREACHABLE', `cannot reach Redis at ${maskUrl(display)}: ${detail}`);
  } finally {
    clearTimeout(timer);
  }
}

/** A standalone client from a bare URL (tests, benches, the demo's private redis-server). */
export function createRedisConnection(url: string, role: RedisRole, opts: RedisConnectionOptions): Redis {
  return createRedisClient(urlTarget(url), role, opts) as Redis;
}

/**
 * A connected client from the `redis.*` settings, for commands that run once (CLI, replay,
 * `patterns prove --share`): the same factory as the bridge, so Sentinel, Cluster and TLS work there too.
 */
export async function openRedis(
  cfg: RedisConfig,
  role: RedisRole,
  opts: Omit<RedisConnectionOptions, 'connectTimeoutSecs'> = {},
) {
  const target = await resolveRedisTarget(cfg);
  const client = createRedisClient(target, role, { ...opts, connectTimeoutSecs: cfg.connectTimeoutSecs });
  try {
    await connectRedis(client, target.display, cfg.connectTimeoutSecs);
  } catch (e) {
    client.disconnect();
    throw e;
  }
  return client;
}
