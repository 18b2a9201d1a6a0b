// The JIMS adapter: renders an IdentityEvent with the push template, sends it with got to the
// active JIMS server with an OAuth2 bearer token, and turns whatever happens into a PushOutcome.
// It never throws for HTTP or network failures (BullMQ owns retries, so got's retry is off).
// Pushes made in the same turn share a request when the template carries a list (PushBatcher).
//
// Parts: `loadServerFiles` (secrets, CA), `createServer` (agent, got instance, token cache of one
// JIMS server), `tokenFetcher` (one token request, classified), `outcomeOf` (classification →
// PushOutcome) and `createJimsClient`, which ties them to failover and the batcher.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import got, { type Got } from 'got';
import type { JimsConfig, JimsServerConfig } from '../config/schema.js';
import { PtimError, type Problem } from '../errors.js';
import { createEvents, type Emit } from '../events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock, IdentityEvent, IdentityPusher, PushOutcome } from '../types.js';
import { classify, type Classification } from './classify.js';
import { FailoverState, type ServerName, type Transition } from './failover.js';
import { PushBatcher } from './batcher.js';
import { compileTemplates, eventFields, type CompiledTemplate, type RenderedBody } from './templates.js';
import { TokenCache, buildTokenRequest, parseTokenResponse, type TokenResponse } from './token.js';

export interface JimsClientDeps {
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Reads template, CA and secret files at start (default: fs.readFileSync as UTF-8). */
  readFile?: (path: string) => string;
}

export interface ProbeResult {
  reachable: boolean;
  server: string;
  detail?: string;
}

export interface JimsClient extends IdentityPusher {
  /** For /readyz: can the active server issue a token? Uses the cached token while pushes succeed. */
  probe(): Promise<ProbeResult>;
}

/** A failed token request, already classified the way a push failure would be. */
class TokenFetchError extends Error {
  constructor(readonly classification: Extract<Classification, { kind: 'retry' }>) {
    super(classification.reason);
  }
}

interface Server {
  name: ServerName;
  /** scheme://host:port, for logs (holds no secret). */
  url: string;
  got: Got;
  agent: HttpAgent | HttpsAgent;
  tokens: TokenCache;
}

interface Attempt {
  classification: Classification;
  token?: string;
  status?: number;
  phase: 'token' | 'push';
}

const trimSlashes = (p: string) => p.replace(/^\/+/, '');

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown';
}

/** Reads secrets and CA files; every problem at once. */
function loadServerFiles(
  servers: ReadonlyArray<[ServerName, JimsServerConfig]>,
  readFile: (path: string) => string,
): Map<ServerName, { secret: string; ca?: string }> {
  const problems: Problem[] = [];
  const out = new Map<ServerName, { secret: string; ca?: string }>();
  for (const [name, s] of servers) {
    let secret = s.clientSecret;
    let secretUnreadable = false;
    if (secret === undefined && s.clientSecretFile) {
      try {
        // A trailing newline from `echo > file` is never part of the secret.
        secret = readFile(s.clientSecretFile).replace(/\r?\n$/, '');
      } catch (e) {
        secretUnreadable = true;
        problems.push({
          path: `jims.${name}.clientSecretFile`,
          source: s.clientSecretFile,
          message: `cannot read: ${(e as Error).message}`,
        });
      }
    }
    let ca: string | undefined;
    if (s.caFile) {
      try {
        ca = readFile(s.caFile);
      } catch (e) {
        problems.push({ path: `jims.${name}.caFile`, source: s.caFile, message: `cannot read: ${(e as Error).message}` });
      }
    }
    if ((secret === undefined || secret === '') && !secretUnreadable)
      problems.push({ path: `jims.${name}.clientSecret`, message: 'the client secret is empty' });
    else if (secret !== undefined) out.set(name, ca === undefined ? { secret } : { secret, ca });
  }
  if (problems.length > 0) throw new PtimError('PTIM_ERR_SECRET', 'cannot read JIMS secrets or CA files', problems);
  return out;
}

interface ServerDeps {
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Operational events (shared by the servers: one log rate for both). */
  emit: Emit;
}

/** One token request to a server, classified the way a push failure would be. */
function tokenFetcher(
  client: Got,
  cfg: JimsConfig,
  server: { name: ServerName; url: string; clientId: string; secret: string },
  deps: ServerDeps,
): () => Promise<TokenResponse> {
  const { metrics, clock } = deps;
  const tokenRequest = buildTokenRequest(cfg.tokenRequestStyle, server.clientId, server.secret);
  const tokenPath = trimSlashes(cfg.tokenPath);
  const retry = (c: Extract<Classification, { kind: 'retry' }>, result: 'error') => {
    metrics.tokenRequests.inc({ result });
    return new TokenFetchError(c);
  };
  return async () => {
    let res: { statusCode: number; body: string; headers: Record<string, string | string[] | undefined> };
    try {
      res = await client(tokenPath, { method: 'POST', headers: tokenRequest.headers, body: tokenRequest.body });
    } catch (e) {
      const c = classify({ errorCode: errorCode(e) }, clock.now());
      throw retry(
        c.kind === 'retry'
          ? { ...c, reason: `token:${c.reason}` }
          : { kind: 'retry', reason: 'token:error', countsTowardFailover: true },
        'error',
      );
    }
    const status = res.statusCode;
    if (status >= 200 && status < 300) {
      const parsed = parseTokenResponse(res.body);
      if (!parsed)
        throw retry({ kind: 'retry', reason: 'token:malformed-response', status, countsTowardFailover: true }, 'error');
      metrics.tokenRequests.inc({ result: 'ok' });
      return parsed;
    }
    const c = classify({ status, headers: res.headers }, clock.now());
    if (c.kind === 'retry') throw retry({ ...c, reason: `token:${c.reason}` }, 'error');
    // Any other answer is JIMS refusing our client credentials (RFC 6749 §5.2 uses 400 and 401).
    // The event is retried, not given up: the fix is in JIMS or our settings, and then it must go through.
    // Counted as ptim_jims_token_requests_total{result="rejected"} by the event.
    deps.emit('jims_credentials_rejected', {
      server: server.name,
      url: server.url,
      status,
      style: cfg.tokenRequestStyle,
      clientId: server.clientId,
    });
    return Promise.reject(
      new TokenFetchError({ kind: 'retry', reason: `token-rejected:http:${status}`, status, countsTowardFailover: true }),
    );
  };
}

/** The agent, the got instance (built once: pushes only add their headers and body) and the token cache of one server. */
function createServer(
  name: ServerName,
  s: JimsServerConfig,
  cfg: JimsConfig,
  file: { secret: string; ca?: string },
  deps: ServerDeps,
): Server {
  const { logger } = deps;
  const { secret, ca } = file;
  const url = `${s.scheme}://${hostForUrl(s.host)}:${s.port}`;
  if (s.scheme === 'https' && !s.tlsVerify)
    logger.warn(
      { server: name, url },
      'TLS certificate verification is OFF for this JIMS server (tlsVerify: false); anyone on the path can impersonate it',
    );
  if (s.scheme === 'http')
    logger.warn({ server: name, url }, 'JIMS server uses plain HTTP: the client secret and tokens cross the network unencrypted');
  // Node's agent honours a server's `Keep-Alive: timeout=N` hint only when it has a timeout of its
  // own; without one, an idle socket the server already closed is reused and the push gets ECONNRESET
  // (a spurious retry that also counts toward failover). Just above the request timeout, so it never
  // cuts a request got is still timing.
  const agentOpts = { keepAlive: true, maxSockets: cfg.maxSockets, timeout: Math.round(cfg.requestTimeoutSecs * 1000) + 1000 };
  const agent =
    s.scheme === 'https'
      ? new HttpsAgent({ ...agentOpts, rejectUnauthorized: s.tlsVerify, ...(ca ? { ca } : {}) })
      : new HttpAgent(agentOpts);
  const client = got.extend({
    prefixUrl: `${url}/`,
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    timeout: { request: Math.round(cfg.requestTimeoutSecs * 1000) },
    agent: s.scheme === 'https' ? { https: agent as HttpsAgent } : { http: agent as HttpAgent },
    https: { rejectUnauthorized: s.tlsVerify, ...(ca ? { certificateAuthority: ca } : {}) },
    headers: { 'user-agent': 'ptim-bridge' },
  });
  const pushClient = client.extend({ method: cfg.push.method });
  const tokens = new TokenCache({
    fetch: tokenFetcher(client, cfg, { name, url, clientId: s.clientId, secret }, deps),
    clock: deps.clock,
    defaultLifetimeSecs: cfg.defaultTokenLifetimeSecs,
    refreshMarginSecs: cfg.tokenRefreshMarginSecs,
  });
  return { name, url, got: pushClient, agent, tokens };
}

/** What a classified answer means for the events of the request. */
export function outcomeOf(c: Classification, server: ServerName): PushOutcome {
  switch (c.kind) {
    case 'delivered':
      return { result: 'delivered', status: c.status, server };
    case 'auth-failure':
      return { result: 'permanent', reason: `auth-rejected:${c.reason}`, status: c.status, server };
    case 'permanent':
      return { result: 'permanent', reason: c.reason, status: c.status, server };
    case 'retry':
      return c.retryAfterMs === undefined
        ? { result: 'retry', reason: c.reason, server }
        : { result: 'retry', reason: c.reason, retryAfterMs: c.retryAfterMs, server };
  }
}

/** A push waiting for its request: the event and its rendered entry. */
interface PendingPush {
  readonly event: IdentityEvent;
  readonly entry: string;
  readonly template: CompiledTemplate;
}

/** Loads templates and secret files together, so one `check` shows every problem. */
function loadStartFiles(
  cfg: JimsConfig,
  configured: ReadonlyArray<[ServerName, JimsServerConfig]>,
  readFile: (p: string) => string,
) {
  const startStep = <T>(fn: () => T): T | PtimError => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof PtimError) return e;
      throw e;
    }
  };
  const templates = startStep(() => compileTemplates(cfg.push, readFile));
  const files = startStep(() => loadServerFiles(configured, readFile));
  if (templates instanceof PtimError || files instanceof PtimError) {
    throw PtimError.combine([templates, files].filter((x): x is PtimError => x instanceof PtimError));
  }
  return { templates, files };
}

/**
 * The configured servers and which one is in use: failover, the background probe of the primary
 * while on the secondary, the active-server gauge, and the loud "certificate not trusted" log.
 */
class ServerPool {
  private readonly failover: FailoverState;
  private probing: Promise<void> | undefined;

  constructor(
    private readonly servers: ReadonlyMap<ServerName, Server>,
    cfg: JimsConfig,
    private readonly deps: ServerDeps,
  ) {
    this.failover = new FailoverState({
      hasSecondary: servers.has('secondary'),
      failoverAfterFailures: cfg.failoverAfterFailures,
      probeIntervalMs: cfg.primaryProbeIntervalSecs * 1000,
    });
    this.showActive();
  }

  private serverOf(n: ServerName): Server {
    return this.servers.get(n) ?? (this.servers.get('primary') as Server);
  }

  active(): Server {
    return this.serverOf(this.failover.active());
  }

  private showActive(): void {
    for (const n of this.servers.keys()) this.deps.metrics.activeServer.set({ server: n }, n === this.failover.active() ? 1 : 0);
  }

  private switched(t: Transition | undefined): void {
    if (!t) return;
    this.showActive();
    this.deps.emit('jims_failover', { labels: { to: t.to }, from: t.from, reason: t.reason, url: this.serverOf(t.to).url });
  }

  /** Counts a request's answer toward failover (or as a success) and logs an untrusted certificate. */
  record(srv: Server, c: Classification, status: number | undefined): void {
    if (c.kind === 'retry' && c.untrustedCert) {
      this.deps.emit('jims_certificate_untrusted', { server: srv.name, url: srv.url, reason: c.reason });
    }
    if (c.countsTowardFailover) this.switched(this.failover.recordFailure(srv.name, this.deps.clock.now()));
    else if (status !== undefined) this.failover.recordSuccess(srv.name);
  }

  /** While on the secondary: a token request to the primary, beside the pushes, not before them. */
  maybeProbePrimary(): void {
    const { clock, logger } = this.deps;
    const now = clock.now();
    if (!this.failover.probeDue(now)) return;
    this.failover.probeStarted(now);
    this.probing = this.serverOf('primary')
      .tokens.refresh()
      .then(
        () => this.switched(this.failover.probeFinished(true, clock.now())),
        (e: unknown) => {
          logger.debug({ server: 'primary', reason: (e as Error).message }, 'JIMS primary probe failed');
          this.failover.probeFinished(false, clock.now());
        },
      );
  }

  async probe(): Promise<ProbeResult> {
    const srv = this.active();
    try {
      if (this.failover.failures() > 0 || !srv.tokens.hasValidToken()) await srv.tokens.refresh();
      return { reachable: true, server: srv.name };
    } catch (e) {
      return {
        reachable: false,
        server: srv.name,
        detail: e instanceof TokenFetchError ? e.classification.reason : errorCode(e),
      };
    }
  }

  async close(): Promise<void> {
    await this.probing;
    for (const s of this.servers.values()) s.agent.destroy();
  }
}

/** One push request to a server: its token, the HTTP call, and the classified answer. */
async function attempt(srv: Server, pushPath: string, rendered: RenderedBody, clock: Clock): Promise<Attempt> {
  let token: string;
  try {
    token = await srv.tokens.get();
  } catch (e) {
    if (e instanceof TokenFetchError)
      return { classification: e.classification, status: e.classification.status, phase: 'token' };
    return { classification: { kind: 'retry', reason: 'token:unexpected', countsTowardFailover: false }, phase: 'token' };
  }
  try {
    const res = await srv.got(pushPath, {
      headers: { 'content-type': rendered.contentType, authorization: `Bearer ${token}` },
      body: rendered.body,
    });
    const classification = classify({ status: res.statusCode, headers: res.headers }, clock.now());
    return { classification, token, status: res.statusCode, phase: 'push' };
  } catch (e) {
    return { classification: classify({ errorCode: errorCode(e) }, clock.now()), token, phase: 'push' };
  }
}

/** Sends one request holding these pushes (one template, in order) to the active server; its outcome is every push's. */
function requestSender(pool: ServerPool, cfg: JimsConfig, deps: ServerDeps) {
  const { metrics, logger, clock } = deps;
  const pushPath = trimSlashes(cfg.push.path);
  return async (items: readonly PendingPush[]): Promise<PushOutcome> => {
    const srv = pool.active();
    const started = performance.now();
    const template = (items[0] as PendingPush).template;
    const rendered = { body: template.wrap(items.map((i) => i.entry)), contentType: template.contentType };
    let a = await attempt(srv, pushPath, rendered, clock);
    if (a.classification.kind === 'auth-failure') {
      // The token may have been revoked or JIMS restarted: one fresh token, one more try.
      if (a.token) srv.tokens.invalidate(a.token);
      a = await attempt(srv, pushPath, rendered, clock);
    }
    pool.record(srv, a.classification, a.status);
    const outcome = outcomeOf(a.classification, srv.name);
    const durationSecs = (performance.now() - started) / 1000;
    metrics.pushDuration.observe({ server: srv.name }, durationSecs);
    // The push worker logs the one line per outcome (with job id and attempt); this is the HTTP
    // detail, built only when someone reads it (every request of a storm passes here).
    if (logger.isLevelEnabled('debug')) {
      const first = (items[0] as PendingPush).event;
      const one = items.length === 1 && { correlationId: first.correlationId, ip: first.ip, seq: first.seq, kind: first.kind };
      const durationMs = Math.round(durationSecs * 1000);
      logger.debug(
        { entries: items.length, ...one, url: srv.url, status: a.status, durationMs, ...outcome },
        `JIMS push ${outcome.result}`,
      );
    }
    return outcome;
  };
}

/**
 * Builds the client. Throws PtimError (PTIM_ERR_TEMPLATE, PTIM_ERR_SECRET, PTIM_ERR_CONFIG) at start
 * for bad settings; never afterwards.
 */
export function createJimsClient(cfg: JimsConfig, deps: JimsClientDeps): JimsClient {
  const { metrics, clock } = deps;
  const logger = deps.logger.child({ component: 'jims' });
  const readFile = deps.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  if (!cfg.primary) throw new PtimError('PTIM_ERR_CONFIG', 'jims.primary is not configured');

  const configured: Array<[ServerName, JimsServerConfig]> = [['primary', cfg.primary]];
  if (cfg.secondary) configured.push(['secondary', cfg.secondary]);
  const { templates, files } = loadStartFiles(cfg, configured, readFile);
  const serverDeps: ServerDeps = { metrics, logger, clock, emit: createEvents({ metrics, logger, now: () => clock.now() }) };
  const servers = new Map<ServerName, Server>(
    configured.map(([n, s]) => [n, createServer(n, s, cfg, files.get(n) ?? { secret: '' }, serverDeps)]),
  );
  const pool = new ServerPool(servers, cfg, serverDeps);
  const batcher = new PushBatcher<PendingPush, CompiledTemplate>({
    maxEntries: cfg.push.maxEntriesPerRequest,
    groupOf: (p) => (p.template.carriesList ? p.template : undefined),
    send: requestSender(pool, cfg, serverDeps),
  });

  const push = async (event: IdentityEvent): Promise<PushOutcome> => {
    pool.maybeProbePrimary();
    const template = templates.byKind[event.kind];
    let entry: string;
    try {
      entry = template.renderEntry(eventFields(event, cfg.push));
    } catch (e) {
      return { result: 'permanent', reason: `render-failed:${(e as Error).message}`, server: pool.active().name };
    }
    return batcher.push({ event, entry, template });
  };

  return { push, probe: () => pool.probe(), close: () => pool.close() };
}
