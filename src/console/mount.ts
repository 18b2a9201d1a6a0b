// What the composition root calls to put the console (and TLS) on the ops listener: builds the
// console from the config when it has credentials, with its own push-queue handle and a
// subscriber connection opened on demand, and reads the ops TLS files.
import { createEvents } from '../events.js';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { RedisClient } from '../redis/connection.js';
import { consoleConfigured, type Config } from '../config/schema.js';
import { PtimError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Library } from '../match/library.js';
import type { Metrics } from '../ops/metrics.js';
import type { ConsoleHandler, ReadinessCheck } from '../ops/server.js';
import { createPushQueue } from '../queue/jobs.js';
import { shardsOf } from '../redis/shards.js';
import { duplicateClient } from '../redis/connection.js';
import type { Clock } from '../types.js';
import { createConsole } from './server.js';

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

function readTls(config: Config): { cert: Buffer; key: Buffer } | undefined {
  const t = config.ops.tls;
  if (!t.enabled) return undefined;
  const read = (key: 'certFile' | 'keyFile') => {
    try {
      return readFileSync(t[key]!);
    } catch (e) {
      throw new PtimError('PTIM_ERR_SECRET', `cannot read ops.tls.${key}`, [
        { path: `ops.tls.${key}`, message: (e as Error).message },
      ]);
    }
  };
  return { cert: read('certFile'), key: read('keyFile') };
}

/** Start-up warnings about the console's configuration (`check` prints them, `serve` logs them). */
export function consoleWarnings(config: Config): string[] {
  if (!config.ops.enabled || !consoleConfigured(config.ops.console) || config.ops.tls.enabled || isLoopback(config.ops.host))
    return [];
  return [
    `ops.console is served over plain HTTP on ${config.ops.host}: passwords and session cookies cross the network in clear; set ops.tls`,
  ];
}

/** The console and TLS options of the ops server (both absent when not configured). */
export function opsConsole(
  config: Config,
  deps: {
    redis: RedisClient;
    library: () => Library | undefined;
    checks: () => readonly ReadinessCheck[];
    metrics: Metrics;
    logger: Logger;
    clock: Clock;
    sampleIntervalMs?: number;
    receivedTotal?: () => Promise<number>;
  },
): { console?: ConsoleHandler; tls?: { cert: Buffer; key: Buffer } } {
  const tls = readTls(config);
  const cfg = config.ops.console;
  if (!consoleConfigured(cfg)) return { tls };
  const emit = createEvents({ metrics: deps.metrics, logger: deps.logger, now: () => deps.clock.now() });
  const shards = shardsOf(config.redis.keyPrefix, config.redis.shards);
  const queues = shards.prefixes.map((p) => createPushQueue(deps.redis, p, emit));
  const j = config.jims;
  const server = (s: typeof j.primary) => (s ? `${s.scheme}://${s.host}:${s.port}` : undefined);
  const inner = createConsole({
    ...(deps.receivedTotal ? { receivedTotal: deps.receivedTotal } : {}),
    cfg,
    secure: tls !== undefined,
    redis: deps.redis,
    // Its own connection (a subscribed one takes no other commands), following the same topology.
    subscriber: () => duplicateClient(deps.redis, { enableOfflineQueue: true }),
    queue: queues,
    keyPrefix: config.redis.keyPrefix,
    shards,
    scope: config.sessions.ipScope,
    patterns: {
      dirs: config.patterns.dirs,
      identity: config.identity,
      maxFieldBytes: config.patterns.maxFieldBytes,
      framing: config.ingest,
      running: deps.library,
    },
    checks: deps.checks,
    jimsServers: Object.fromEntries(
      Object.entries({ primary: server(j.primary), secondary: server(j.secondary) }).filter(([, v]) => v !== undefined),
    ) as Record<string, string>,
    metrics: deps.metrics,
    logger: deps.logger.child({ component: 'console' }),
    clock: deps.clock,
    sampleIntervalMs: deps.sampleIntervalMs,
  });
  return {
    tls,
    console: {
      ...inner,
      async close() {
        await inner.close();
        await Promise.all(queues.map((q) => q.close()));
      },
    },
  };
}
