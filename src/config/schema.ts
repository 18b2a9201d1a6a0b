// The one configuration schema: every setting, its unit (in its name) and its default.
// The README's configuration reference mirrors this file; keep them in step.
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseCidr } from '../net/cidr.js';
import { DEFAULT_ALLOWED_SOURCES } from './defaults.js';

/** The most shards `redis.shards` accepts: bounds the `shard` label of the queue-depth gauge. */
export const MAX_SHARDS = 64;

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();
const nonNegative = z.number().min(0);
/** An address or CIDR, checked here so a typo is reported with its file line like every other setting. */
const cidr = z.string().superRefine((v, ctx) => {
  const r = parseCidr(v);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

export { DEFAULT_ALLOWED_SOURCES };

const listener = (defaultPort: number, defaultBind: string[]) =>
  z
    .object({
      enabled: z.boolean().default(true),
      /** Addresses to bind; `::` binds IPv6 only (ipv6Only), so list both families explicitly. */
      bind: z
        .array(z.string().refine((v) => isIP(v) !== 0, 'must be an IPv4 or IPv6 address (0.0.0.0 and :: bind all)'))
        .min(1)
        .default(defaultBind),
      port: port.default(defaultPort),
    })
    .strict();

const udp = listener(514, ['0.0.0.0', '::'])
  .extend({
    /** SO_RCVBUF request; the kernel may cap it (net.core.rmem_max). */
    receiveBufferBytes: positiveInt.default(8 * 1024 * 1024),
    /**
     * How sockets are read: `recvmmsg` (batches of datagrams per call, native addon, Linux),
     * `dgram` (Node's socket, a callback per datagram), `auto` (recvmmsg when it loads).
     */
    reader: z.enum(['auto', 'recvmmsg', 'dgram']).default('auto'),
  })
  .strict();

const tcp = listener(514, ['0.0.0.0', '::']).strict();

const tls = listener(6514, ['0.0.0.0', '::'])
  .extend({
    enabled: z.boolean().default(false),
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
    /** CA bundle used to verify client certificates when `requireClientCert` is on. */
    clientCaFile: z.string().optional(),
    requireClientCert: z.boolean().default(false),
    /** A TLS handshake not finished this long after the connection opened is abandoned. */
    handshakeTimeoutSecs: z.number().positive().default(10),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.enabled) return;
    if (!v.certFile) ctx.addIssue({ code: 'custom', path: ['certFile'], message: 'required when tls.enabled is true' });
    if (!v.keyFile) ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'required when tls.enabled is true' });
    if (v.requireClientCert && !v.clientCaFile)
      ctx.addIssue({ code: 'custom', path: ['clientCaFile'], message: 'required when requireClientCert is true' });
  });

export const ingestSchema = z
  .object({
    udp: udp.default(udp.parse({})),
    tcp: tcp.default(tcp.parse({})),
    tls: tls.default(tls.parse({})),
    /** Frames larger than this are cut (UDP, LF) or skipped (octet-counted) and counted. */
    maxMessageBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024)
      .default(16 * 1024),
    /** TCP and TLS connections open at once, all listeners together. */
    maxConnections: positiveInt.default(1000),
    /** TCP and TLS connections open at once from one source address. */
    maxConnectionsPerSource: positiveInt.default(16),
    /**
     * A connection from a source that is not a configured firewall (`firewalls`) and has not
     * delivered one complete message this long after it opened is closed. Once it has, it is never
     * closed for being quiet (TCP keepalive finds dead peers).
     */
    firstFrameTimeoutSecs: z.number().positive().default(10),
    /** TCP keepalive: first probe after this much silence (the kernel's interval and count follow). */
    tcpKeepAliveSecs: positiveInt.default(60),
    /** No longer used (quiet connections stay open); accepted so old files still load, with a warning. */
    idleTimeoutSecs: positiveInt.optional(),
    /** How many PRI-less LF pieces may be joined to the message before them (binary IKE-IDs contain LF). */
    maxContinuationLines: z.number().int().min(0).max(16).default(4),
    /** CIDRs allowed to send syslog; everything else is dropped and counted. */
    allowedSources: z.array(cidr).default([...DEFAULT_ALLOWED_SOURCES]),
    /** Log at most this many "dropped sender" lines per minute (all sources together). */
    droppedLogPerMinute: positiveInt.default(10),
    /** Candidate lines between the receive thread and the matcher, at most; beyond it they are dropped and counted. */
    handoffMaxLines: positiveInt.default(100_000),
    /**
     * Linux niceness added to the main thread (sessions, queue, JIMS) so the receive thread wins
     * the CPU when the host is busy: delivery can catch up later, a full socket buffer cannot.
     */
    deliveryNice: z.number().int().min(0).max(19).default(10),
    /**
     * After a turn that emptied its sockets, the receive thread sleeps this long so that what
     * arrives meanwhile is read in one wakeup instead of one each (src/threads/read-pacer.ts). 0: never.
     */
    readPauseMs: z.number().int().min(0).max(10).default(1),
  })
  .strict();

export const firewallSchema = z
  .object({
    /** Source address or CIDR of the firewall's syslog packets. */
    source: cidr,
    name: z.string().min(1),
  })
  .strict();

export const patternsSchema = z
  .object({
    /** Directories of pattern files (`*.yaml`), loaded in name order; first match wins. */
    dirs: z.array(z.string().min(1)).min(1).default(['patterns']),
    /** Reload on file change (SIGHUP always reloads). */
    watch: z.boolean().default(true),
    /** Log at most this many near-miss samples per minute. */
    nearMissLogPerMinute: positiveInt.default(6),
    /** A captured field longer than this makes the line ignored (`invalid_field`): no value that big is real. */
    maxFieldBytes: positiveInt.default(1024),
    /** Where this host keeps the regex safety verdicts it proved; null = `$XDG_CACHE_HOME` or `~/.cache`, `/ptim-bridge/regex-verdicts.json`. */
    verdictCacheFile: z.string().min(1).nullable().default(null),
    /** One line running one pattern longer than this is abandoned and the pattern quarantined. */
    matchTimeoutMs: z.number().int().min(10).default(250),
  })
  .strict();

/** A name or `*`/`?` pattern, for every firewall, or `{ name, firewall }` for matching firewalls only. */
const excludeEntry = z.union([z.string().min(1), z.object({ name: z.string().min(1), firewall: z.string().min(1) }).strict()]);

export const identitySchema = z
  .object({
    /** Domain used when neither the username nor the VPN/gateway maps give one. */
    defaultDomain: z.string().default(''),
    /** VPN name → domain (as PTIM takes it from the remote-access profile). */
    domainByVpn: z.record(z.string(), z.string()).default({}),
    /** Gateway name → domain, consulted after domainByVpn. */
    domainByGateway: z.record(z.string(), z.string()).default({}),
    usernameCase: z.enum(['preserve', 'lower', 'upper']).default('preserve'),
    domainCase: z.enum(['preserve', 'lower', 'upper']).default('lower'),
    /** Use a `user@domain` Remote IKE-ID when AAA username is a placeholder (per-user IKE ids). */
    ikeIdFallback: z.boolean().default(false),
    /** Usernames that mean "no user" (site-to-site tunnels); compared case-insensitively. */
    placeholderUsers: z.array(z.string()).default(['Not-Applicable', 'Not-Available', '']),
    /** IKE gateways whose lines yield no event (native PTIM's `no-push-to-identity-management`). */
    excludeGateways: z.array(excludeEntry).default([]),
    /** VPNs whose lines yield no event. */
    excludeVpns: z.array(excludeEntry).default([]),
    /** VPN name → its IKE gateway, as on the SRX; lets `check` compare domainByVpn with domainByGateway. */
    gatewayByVpn: z.record(z.string(), z.string()).default({}),
    /** One VPN or gateway seen with two derived domains within this window is reported once per pair. */
    domainAliasWindowSecs: positiveInt.default(3600),
  })
  .strict();

export const sessionsSchema = z
  .object({
    /** A repeated UP for the same user within this window is a duplicate, later it is a rekey. */
    duplicateWindowSecs: nonNegative.default(5),
    /** No UP/rekey for this long ⇒ disconnect (reason `expired`). JIMS's default logoff time. */
    sessionIdleSecs: positiveInt.default(86400),
    /** Forward a DOWN for an IP the bridge has no session for (it may have missed the UP). */
    forwardOrphanDown: z.boolean().default(true),
    sweepIntervalSecs: positiveInt.default(60),
    /** Events held in memory while Redis is unreachable; beyond this they are dropped and counted. */
    bufferMaxEvents: positiveInt.default(10000),
    /** Optional routing context that scopes IPs (overlapping pools in different contexts). */
    ipScope: z.string().default(''),
    /** Directory of the local journal of events Redis has not applied yet ('' = no journal: memory only). */
    journalDir: z.string().default(''),
    /** Bound on the journal's files; when full the oldest events are dropped and counted. */
    journalMaxBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .default(128 * 1024 * 1024),
    /** always: write + fsync every event-loop turn; interval: every journalWriteIntervalMs; never: write, the OS syncs. */
    journalFsync: z.enum(['always', 'interval', 'never']).default('interval'),
    /** Events are collected this long and written in one write (interval and never). */
    journalWriteIntervalMs: positiveInt.max(10_000).default(100),
    /**
     * How long an IP's last applied receive time is kept after its session ended: a line received
     * earlier is refused (out of order) within it. Must cover replica clock skew plus buffering.
     */
    reorderWindowMs: positiveInt.default(60_000),
    /** Re-push every active session this often so JIMS's logoff timer never lapses (0 = off). */
    refreshIntervalSecs: z.number().int().min(0).default(0),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.refreshIntervalSecs > 0 && v.refreshIntervalSecs >= v.sessionIdleSecs)
      ctx.addIssue({
        code: 'custom',
        path: ['refreshIntervalSecs'],
        message: `must be below sessionIdleSecs (${v.sessionIdleSecs}), or the bridge's own idle expiry ends sessions between refreshes`,
      });
  });

/** `host:port` of a Sentinel or Cluster node (IPv6 as `[addr]:port`). */
const hostPort = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$/, 'host:port (IPv6 as [addr]:port)');

const redisSentinelSchema = z
  .object({
    /** Sentinels to ask for the current master. */
    sentinels: z.array(hostPort).min(1),
    /** The master group name the sentinels monitor (`sentinel monitor <name> …`). */
    name: z.string().min(1),
    /** Credentials of the sentinels themselves (the data nodes use redis.username / passwordFile). */
    username: z.string().optional(),
    password: z.string().optional(),
    passwordFile: z.string().optional(),
    /** Speak TLS to the sentinels too (with redis.tls's CA). */
    tls: z.boolean().default(false),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.password && v.passwordFile)
      ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'set only one of password and passwordFile' });
  });

const redisClusterSchema = z
  .object({
    /** Seed nodes; the rest of the cluster is discovered from them. */
    nodes: z.array(hostPort).min(1),
  })
  .strict();

const redisTlsSchema = z
  .object({
    /** PEM CA bundle that signed the Redis server certificates (a private CA). */
    caFile: z.string().optional(),
    /** Client certificate and key, when Redis requires them (`tls-auth-clients yes`). */
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
    /** Name checked against the server certificate (default: the host connected to). */
    servername: z.string().optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (Boolean(v.certFile) !== Boolean(v.keyFile))
      ctx.addIssue({ code: 'custom', path: [v.certFile ? 'keyFile' : 'certFile'], message: 'certFile and keyFile go together' });
  });

export const redisSchema = z
  .object({
    /**
     * redis:// or rediss:// URL of a standalone Redis (or of the Redis behind a proxy). Ignored
     * when `sentinel` or `cluster` is set, except for its credentials. Empty with `ptim-bridge
     * demo` ⇒ a private redis-server is started.
     */
    url: z.string().default('redis://127.0.0.1:6379'),
    /** ACL user (Redis 6+); overrides the URL's user. */
    username: z.string().optional(),
    /** File holding the password (Docker/Kubernetes secret); overrides the URL's password. Never logged. */
    passwordFile: z.string().optional(),
    /** Redis Sentinel: the bridge asks the sentinels for the master and follows failovers. */
    sentinel: redisSentinelSchema.optional(),
    /** Redis Cluster: every key of the bridge shares one hash tag, so one slot (one master) holds them. */
    cluster: redisClusterSchema.optional(),
    /** TLS to Redis (also implied by a rediss:// URL). Certificates are verified against caFile or the system CAs. */
    tls: redisTlsSchema.optional(),
    /**
     * Replicas that must acknowledge (WAIT) a session batch and a push's attempt mark before they
     * count. Default: 1 with sentinel or cluster (so a failover cannot undo them), 0 standalone.
     */
    replicasToAck: z.number().int().min(0).optional(),
    replicaAckTimeoutMs: positiveInt.default(1000),
    /** Prefix of every key; wrapped in a hash tag `{prefix}` so all keys share a Cluster slot. */
    keyPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
      .default('ptim'),
    /**
     * Shards of the keyspace: each IP's session, outbox, queue and ordering keys live under its
     * shard's hash tag, so a Redis Cluster spreads the shards over its masters. 1 keeps today's names.
     */
    shards: z.number().int().min(1).max(MAX_SHARDS).default(1),
    /** Start even when maxmemory-policy is not noeviction (Redis may then evict queued events). */
    allowEviction: z.boolean().default(false),
    connectTimeoutSecs: positiveInt.default(5),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.sentinel && v.cluster)
      ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'set only one of redis.sentinel and redis.cluster' });
  });

export const queueSchema = z
  .object({
    /** Pushes in flight per bridge process (still at most one per IP). */
    concurrency: positiveInt.default(32),
    /** Give up retrying an event this old (it then stays in the failed set). */
    maxEventAgeSecs: positiveInt.default(86400),
    retryBaseDelaySecs: z.number().positive().default(1),
    retryMaxDelaySecs: z.number().positive().default(30),
    /** Per-IP push lock lifetime; must exceed the longest push. */
    ipLockTtlSecs: positiveInt.default(30),
    relayBatchSize: positiveInt.default(200),
    /** Events the relay puts in one job (a job's first push attempt for each); 1 makes one job per event. */
    maxEventsPerJob: positiveInt.default(50),
    /** Keep this many completed jobs for inspection. */
    keepCompletedJobs: z.number().int().min(0).default(1000),
  })
  .strict();

export const jimsServerSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(443),
    scheme: z.enum(['https', 'http']).default('https'),
    clientId: z.string().min(1),
    /** Prefer clientSecretFile or ${ENV} interpolation; never logged. */
    clientSecret: z.string().optional(),
    clientSecretFile: z.string().optional(),
    /** CA bundle for JIMS's (often self-signed) certificate. */
    caFile: z.string().optional(),
    /** Turning this off is logged as a warning at start. */
    tlsVerify: z.boolean().default(true),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.clientSecret && !v.clientSecretFile)
      ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: 'set clientSecret or clientSecretFile' });
    if (v.clientSecret && v.clientSecretFile)
      ctx.addIssue({ code: 'custom', path: ['clientSecretFile'], message: 'set only one of clientSecret and clientSecretFile' });
  });

export const pushSchema = z
  .object({
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    path: z.string().default('api/userfw/v1/post-entry'),
    /** `userfw-xml`, `userfw-json`, or a template file path. */
    template: z.string().default('userfw-xml'),
    /** Per-event template overrides (same values as `template`). */
    templates: z
      .object({ connect: z.string().optional(), rekey: z.string().optional(), disconnect: z.string().optional() })
      .strict()
      .default({}),
    operationMap: z
      .object({
        connect: z.string().default('logon'),
        rekey: z.string().default('logon'),
        disconnect: z.string().default('logoff'),
      })
      .strict()
      .default({ connect: 'logon', rekey: 'logon', disconnect: 'logoff' }),
    source: z.string().default('Juniper Secure Connect'),
    timestampFormat: z.enum(['iso', 'epoch-s', 'epoch-ms']).default('iso'),
    /** Most events in one push request, for templates that carry a list (`{{#entries}}`); 1 sends one per request. */
    maxEntriesPerRequest: positiveInt.default(50),
  })
  .strict();

export const jimsSchema = z
  .object({
    /** Leave unset to run without pushing (events stay queued; readiness says so). */
    primary: jimsServerSchema.optional(),
    secondary: jimsServerSchema.optional(),
    tokenPath: z.string().default('oauth_token/oauth'),
    tokenRequestStyle: z.enum(['json', 'form', 'basic']).default('json'),
    /** Used when the token response has no expires_in (JIMS's per-client default). */
    defaultTokenLifetimeSecs: positiveInt.default(28800),
    /** Refresh the token this long before it expires. */
    tokenRefreshMarginSecs: nonNegative.default(60),
    push: pushSchema.default(pushSchema.parse({})),
    requestTimeoutSecs: z.number().positive().default(5),
    /** Keep-alive sockets per JIMS server. */
    maxSockets: positiveInt.default(16),
    /** Switch to the secondary after this many consecutive retryable failures. */
    failoverAfterFailures: positiveInt.default(3),
    /** While on the secondary, probe the primary this often and revert when it answers. */
    primaryProbeIntervalSecs: positiveInt.default(30),
  })
  .strict();

export const consoleRoles = ['viewer', 'admin'] as const;
export type ConsoleRole = (typeof consoleRoles)[number];

const consoleUser = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, '1 to 64 letters, digits, _ . @ -'),
    role: z.enum(consoleRoles),
    /** From `ptim-bridge hash-password`; the password itself is never stored. */
    passwordHash: z
      .string()
      .regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, 'not a hash from `ptim-bridge hash-password`'),
  })
  .strict();

const consoleToken = z
  .object({
    name: z.string().min(1).max(64),
    role: z.enum(consoleRoles),
    /** From `ptim-bridge hash-password --token`: the SHA-256 of a random bearer token. */
    tokenHash: z.string().regex(/^sha256\$[0-9a-f]{64}$/, 'not a hash from `ptim-bridge hash-password --token`'),
  })
  .strict();

const uniqueNames = (what: string) => (list: readonly { name: string }[], ctx: z.RefinementCtx) => {
  const seen = new Set<string>();
  list.forEach((u, i) => {
    if (seen.has(u.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate ${what} name ${u.name}` });
    seen.add(u.name);
  });
};

export const historySchema = z
  .object({
    /**
     * Recent entries kept per IP (lines, decisions, pushes) for the console's IP timeline; 0 records
     * nothing. Unset: HISTORY_ENTRIES_PER_IP when the console has credentials, else 0 (see historySettings).
     */
    maxEntriesPerIp: z.number().int().min(0).max(1000).optional(),
    /** An IP's history is deleted this long after its last entry. */
    ttlSecs: positiveInt.default(86400),
  })
  .strict();

/** Entries kept per IP when the console is configured and `maxEntriesPerIp` is unset. */
export const HISTORY_ENTRIES_PER_IP = 12;

/** True when the console has credentials and so is served at all. */
export const consoleConfigured = (cfg: Pick<ConsoleConfig, 'users' | 'tokens'>) => cfg.users.length + cfg.tokens.length > 0;

/** The per-IP history as the recorder applies it. */
export interface HistorySettings {
  readonly maxEntriesPerIp: number;
  readonly ttlSecs: number;
}

/**
 * What the per-IP history records: `maxEntriesPerIp` as set; unset, HISTORY_ENTRIES_PER_IP when the
 * console has credentials and nothing when it has none. The history is the console's IP timeline:
 * without a console no one can read it, and in a login storm it costs about a sixth of the bridge's CPU
 * and a fifth of Redis's.
 */
export function historySettings(cfg: ConsoleConfig): HistorySettings {
  const maxEntriesPerIp = cfg.history.maxEntriesPerIp ?? (consoleConfigured(cfg) ? HISTORY_ENTRIES_PER_IP : 0);
  return { maxEntriesPerIp, ttlSecs: cfg.history.ttlSecs };
}

export const consoleSchema = z
  .object({
    /** Login accounts; the console is off while both users and tokens are empty. */
    users: z.array(consoleUser).default([]).superRefine(uniqueNames('user')),
    /** Bearer tokens for the JSON API (scripts, the CLI). */
    tokens: z.array(consoleToken).default([]).superRefine(uniqueNames('token')),
    /** A login lasts this long (then the operator logs in again). */
    sessionTtlSecs: positiveInt.default(8 * 3600),
    /** Failed logins per client address (and per user name) before logins are refused for a while. */
    loginMaxFailures: positiveInt.default(5),
    /** How long failures count, and how long a throttled address or name must wait. */
    loginLockoutSecs: positiveInt.default(300),
    history: historySchema.default(historySchema.parse({})),
  })
  .strict();

const opsTls = z
  .object({
    enabled: z.boolean().default(false),
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.enabled) return;
    if (!v.certFile) ctx.addIssue({ code: 'custom', path: ['certFile'], message: 'required when ops.tls.enabled is true' });
    if (!v.keyFile) ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'required when ops.tls.enabled is true' });
  });

export const opsSchema = z
  .object({
    /** Admin HTTP server: /healthz, /readyz, /metrics, and the console when it has credentials. */
    enabled: z.boolean().default(true),
    host: z.string().default('0.0.0.0'),
    port: port.default(9514),
    /** HTTPS for the ops listener (the console's cookie is then Secure). */
    tls: opsTls.default(opsTls.parse({})),
    console: consoleSchema.default(consoleSchema.parse({})),
  })
  .strict();

export const roles = ['ingest', 'relay', 'worker', 'sweeper'] as const;
export type Role = (typeof roles)[number];

export const configSchema = z
  .object({
    /** Which parts this process runs; scale them apart by giving replicas different roles. */
    roles: z
      .array(z.enum(roles))
      .min(1)
      .default([...roles]),
    ingest: ingestSchema.default(ingestSchema.parse({})),
    /** Source address → firewall name (default: the syslog hostname). */
    firewalls: z.array(firewallSchema).default([]),
    patterns: patternsSchema.default(patternsSchema.parse({})),
    identity: identitySchema.default(identitySchema.parse({})),
    sessions: sessionsSchema.default(sessionsSchema.parse({})),
    redis: redisSchema.default(redisSchema.parse({})),
    queue: queueSchema.default(queueSchema.parse({})),
    jims: jimsSchema.default(jimsSchema.parse({})),
    ops: opsSchema.default(opsSchema.parse({})),
    /** SIGTERM/SIGINT end the process within this time, whatever Redis and JIMS do (docker stop waits 10 s). */
    shutdownGraceSecs: positiveInt.max(3600).default(10),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type IngestConfig = Config['ingest'];
export type PatternsConfig = Config['patterns'];
export type IdentityConfig = Config['identity'];
export type SessionsConfig = Config['sessions'];
export type RedisConfig = Config['redis'];
export type QueueConfig = Config['queue'];
export type JimsConfig = Config['jims'];
export type JimsServerConfig = NonNullable<JimsConfig['primary']>;
export type PushConfig = JimsConfig['push'];
export type OpsConfig = Config['ops'];
export type ConsoleConfig = OpsConfig['console'];
export type HistoryConfig = ConsoleConfig['history'];

/** Defaults for every setting; handy in tests: `testConfig({ sessions: { duplicateWindowSecs: 1 } })`. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}
