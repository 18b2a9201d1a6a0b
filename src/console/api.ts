// The console's JSON API (the pages use it; so may scripts and the CLI, with a bearer token).
// Each route is a small function of the request; reads for viewers, changes to the failed set
// for admins only, each admin action one audit log line.
import type { IncomingMessage } from 'node:http';
import type { RedisClient } from '../redis/connection.js';
import type { IdentityConfig } from '../config/schema.js';
import { readHistory } from '../history/read.js';
import type { Logger } from '../log.js';
import { inputFrames, type FramingSettings } from '../ingest/frame-input.js';
import { explainLine } from '../pipeline.js';
import { inspectLibrary, type Library, type LoadReport } from '../match/library.js';
import type { Metrics } from '../ops/metrics.js';
import { runChecks, type ReadinessCheck } from '../ops/server.js';
import { listFailed, purgeFailed, queueStats, retryFailed } from '../queue/admin.js';
import type { PushQueues } from '../queue/admin.js';
import type { Shards } from '../redis/shards.js';
import { canonicalIp } from '../identity/ip.js';
import { ipKey } from '../redis/keys.js';
import { readSessions } from '../sessions/query.js';
import type { Clock, RawMessage } from '../types.js';
import { auditAction } from './audit.js';
import type { Principal } from './auth.js';
import { clientAddress, HttpError, readFields } from './http.js';
import type { Sampler } from './series.js';
import { SEARCH_FIELDS, searchSessions, type SearchField } from './search.js';

export interface ApiDeps {
  readonly redis: RedisClient;
  /** The push queue, or each shard's (by shard index). */
  readonly queue: PushQueues;
  readonly keyPrefix: string;
  /** The keyspace's shards (redis.shards); absent: one, `keyPrefix`. */
  readonly shards?: Shards;
  /** sessions.ipScope */
  readonly scope: string;
  readonly patterns: {
    readonly dirs: readonly string[];
    readonly identity: IdentityConfig;
    readonly maxFieldBytes: number;
    /** How the receivers frame a stream (`ingest.maxMessageBytes`, `ingest.maxContinuationLines`). */
    readonly framing: FramingSettings;
    /** The library the pipeline runs now (ingest role), else it is loaded from `dirs`. */
    readonly running?: () => Library | undefined;
  };
  readonly checks: () => readonly ReadinessCheck[];
  /** JIMS servers by name as `scheme://host:port` (never credentials). */
  readonly jimsServers: Readonly<Record<string, string>>;
  readonly sampler: Sampler;
  /** The library on disk, inspected (examples run, regex safety checked) at most every few seconds. */
  readonly inspect: () => Promise<LoadReport>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
}

export interface ApiRequest {
  readonly req: IncomingMessage;
  readonly url: URL;
  readonly principal: Principal;
  /** Path segments after /console/api/. */
  readonly parts: readonly string[];
}

type Handler = (deps: ApiDeps, r: ApiRequest) => Promise<unknown>;
export interface Route {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly admin?: boolean;
  readonly handler: Handler;
}

const MAX_EXPLAIN_LINES = 200;
const num = (v: string | null, dflt: number) => (v !== null && v !== '' && Number.isFinite(Number(v)) ? Number(v) : dflt);

const sessions: Handler = async (d, { url }) => {
  const field = (url.searchParams.get('field') ?? 'any') as SearchField;
  if (!SEARCH_FIELDS.includes(field)) throw new HttpError(400, `field must be one of ${SEARCH_FIELDS.join(', ')}`);
  return searchSessions(d.redis, d.shards ?? d.keyPrefix, {
    q: url.searchParams.get('q') ?? '',
    field,
    cursor: num(url.searchParams.get('cursor'), 0),
    limit: num(url.searchParams.get('limit'), 50),
    scope: d.scope,
  });
};

const ipDetail: Handler = async (d, { parts }) => {
  const ip = canonicalIp(decodeURIComponent(parts[1] ?? ''));
  if (!ip) throw new HttpError(400, 'not an IP address');
  const [session] = await readSessions(d.redis, d.shards ?? d.keyPrefix, [ipKey(ip, d.scope)]);
  return { ip, session: session ?? null, history: await readHistory(d.redis, d.shards ?? d.keyPrefix, ip) };
};

/** Inspecting runs every example and the regex safety checks: too much CPU to repeat on every page view. */
export const INSPECT_CACHE_MS = 10_000;

export function cachedInspect(dirs: readonly string[], clock: Clock): () => Promise<LoadReport> {
  let last: { at: number; report: Promise<LoadReport> } | undefined;
  return () => {
    const now = clock.now();
    if (!last || now - last.at >= INSPECT_CACHE_MS) {
      const report = inspectLibrary(dirs);
      last = { at: now, report };
      report.catch(() => (last = undefined));
    }
    return last.report;
  };
}

async function library(d: ApiDeps): Promise<Library> {
  const lib = d.patterns.running?.() ?? (await d.inspect()).library;
  if (!lib) throw new HttpError(409, 'the pattern library on disk does not load: see the Patterns view for its problems');
  return lib;
}

const patterns: Handler = async (d) => {
  const r = await d.inspect();
  const running = d.patterns.running?.();
  const examples = new Map<string, { ok: number; failed: number; messages: string[] }>();
  for (const x of r.results) {
    const e = examples.get(x.patternId) ?? { ok: 0, failed: 0, messages: [] };
    if (x.ok) e.ok++;
    else {
      e.failed++;
      if (x.message) e.messages.push(x.message);
    }
    examples.set(x.patternId, e);
  }
  return {
    files: r.files,
    loads: r.library !== undefined,
    running: running ? { patterns: running.patterns.length, same: running.patterns.length === r.library?.patterns.length } : null,
    patterns: (r.library ?? running)?.patterns.map((p) => ({
      id: p.id,
      description: p.description,
      kind: p.kind,
      file: p.file,
      line: p.line,
      enabled: p.enabled,
      verified: p.verified,
      examples: examples.get(p.id) ?? { ok: 0, failed: 0, messages: [] },
    })),
    problems: r.problems,
    warnings: r.warnings,
  };
};

const explain: Handler = async (d, { req }) => {
  const f = await readFields(req, 256 * 1024);
  if (typeof f.text !== 'string') throw new HttpError(400, 'send {"text": "one syslog line per line"}');
  // Framed exactly as `patterns explain` and the receivers do (a binary IKE-ID's LF stays inside its line).
  const { frames } = await inputFrames([Buffer.from(f.text, 'utf8')], d.patterns.framing);
  const lib = await library(d);
  const results = [];
  for await (const frame of frames) {
    if (frame.bytes.length === 0) continue;
    if (results.length >= MAX_EXPLAIN_LINES) throw new HttpError(400, `at most ${MAX_EXPLAIN_LINES} lines at a time`);
    const raw: RawMessage = {
      bytes: frame.bytes,
      transport: 'udp',
      sourceIp: '127.0.0.1',
      sourcePort: 0,
      receivedAt: d.clock.now(),
      truncated: frame.truncated,
    };
    const x = explainLine(lib, d.patterns.identity, raw, { maxFieldBytes: d.patterns.maxFieldBytes });
    results.push({ line: results.length + 1, text: frame.bytes.toString('latin1'), continuations: frame.continuations, ...x });
  }
  return { results };
};

const queue: Handler = async (d, { url }) => ({
  stats: await queueStats(d.queue, d.redis, d.shards ?? d.keyPrefix),
  failed: await listFailed(d.queue, { limit: Math.min(num(url.searchParams.get('limit'), 100), 1000) }),
});

const audit = (d: ApiDeps, r: ApiRequest, action: string, target: unknown, outcome: unknown) =>
  auditAction(d, { principal: r.principal, clientIp: clientAddress(r.req) }, action, 'ok', { target, outcome });

const retry: Handler = async (d, r) => {
  const f = await readFields(r.req);
  const ids = Array.isArray(f.jobIds) ? f.jobIds.filter((x): x is string => typeof x === 'string').slice(0, 1000) : [];
  if (f.all !== true && ids.length === 0) throw new HttpError(400, 'send {"jobIds": [...]} or {"all": true}');
  const result = await retryFailed(d.queue, f.all === true ? { all: true } : { jobIds: ids });
  audit(d, r, 'retry', f.all === true ? 'all' : ids, result);
  return result;
};

const purge: Handler = async (d, r) => {
  const f = await readFields(r.req);
  const older = f.olderThanSecs === undefined ? undefined : Number(f.olderThanSecs);
  if (older !== undefined && !(older >= 0)) throw new HttpError(400, 'olderThanSecs must be a number ≥ 0');
  const removed = await purgeFailed(d.queue, older === undefined ? {} : { olderThanSecs: older });
  audit(d, r, 'purge', older === undefined ? 'all' : `older than ${older}s`, { removed: removed.length });
  return { removed };
};

const health: Handler = async (d) => {
  const r = await runChecks(d.checks());
  const active = (await d.metrics.activeServer.get()).values.find((v) => v.value === 1)?.labels.server;
  return {
    ready: r.ready,
    checks: r.checks,
    jims: { active: active ?? null, servers: d.jimsServers },
    sessionsActive: (await d.metrics.sessionsActive.get()).values[0]?.value ?? 0,
    series: d.sampler.series(),
    intervalMs: d.sampler.intervalMs,
  };
};

const me: Handler = async (_d, { principal }) => principal;

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: 'me', handler: me },
  { method: 'GET', path: 'sessions', handler: sessions },
  { method: 'GET', path: 'ip', handler: ipDetail },
  { method: 'GET', path: 'patterns', handler: patterns },
  { method: 'POST', path: 'patterns/explain', handler: explain },
  { method: 'GET', path: 'queue', handler: queue },
  { method: 'POST', path: 'failed/retry', admin: true, handler: retry },
  { method: 'POST', path: 'failed/purge', admin: true, handler: purge },
  { method: 'GET', path: 'health', handler: health },
];

/** The route for a path under /console/api/ (`ip/<addr>` matches `ip`). */
export function findRoute(method: string, parts: readonly string[]): Route | undefined {
  const path = parts.join('/');
  return ROUTES.find(
    (r) => r.method === method && (r.path === path || (r.path === 'ip' && parts[0] === 'ip' && parts.length === 2)),
  );
}
