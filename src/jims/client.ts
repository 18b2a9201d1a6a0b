// The JIMS adapter: renders an IdentityEvent with the push template, sends it with got to the
// active JIMS server with an OAuth2 bearer token, and turns whatever happens into a PushOutcome.
// It never throws for HTTP or network failures (BullMQ owns retries, so got's retry is off).
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import got, { type Got } from 'got';
import type { JimsConfig, JimsServerConfig } from '../config/schema.js';
import { PtimError, type Problem } from '../errors.js';
import { rateLimiter, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock, IdentityEvent, IdentityPusher, PushOutcome } from '../types.js';
import { classify, type Classification } from './classify.js';
import { FailoverState, type ServerName, type Transition } from './failover.js';
import { compileTemplates, type RenderedBody } from './templates.js';
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
  c: Classification;
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
  // Template and secret-file problems are reported together, so one `check` shows them all.
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
  const certLog = rateLimiter(6, () => clock.now());
  const tokenLog = rateLimiter(6, () => clock.now());

  const makeServer = (name: ServerName, s: JimsServerConfig): Server => {
    const { secret, ca } = files.get(name) ?? { secret: '' };
    const url = `${s.scheme}://${hostForUrl(s.host)}:${s.port}`;
    if (s.scheme === 'https' && !s.tlsVerify)
      logger.warn(
        { server: name, url },
        'TLS certificate verification is OFF for this JIMS server (tlsVerify: false); anyone on the path can impersonate it',
      );
    if (s.scheme === 'http')
      logger.warn(
        { server: name, url },
        'JIMS server uses plain HTTP: the client secret and tokens cross the network unencrypted',
      );
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
    const tokenRequest = buildTokenRequest(cfg.tokenRequestStyle, s.clientId, secret);
    const fetchToken = async (): Promise<TokenResponse> => {
      let status: number;
      let body: string;
      let headers: Record<string, string | string[] | undefined>;
      try {
        const res = await client(trimSlashes(cfg.tokenPath), {
          method: 'POST',
          headers: tokenRequest.headers,
          body: tokenRequest.body,
        });
        status = res.statusCode;
        body = res.body;
        headers = res.headers;
      } catch (e) {
        metrics.tokenRequests.inc({ result: 'error' });
        const c = classify({ errorCode: errorCode(e) }, clock.now());
        throw new TokenFetchError(
          c.kind === 'retry'
            ? { ...c, reason: `token:${c.reason}` }
            : { kind: 'retry', reason: 'token:error', countsTowardFailover: true },
        );
      }
      if (status >= 200 && status < 300) {
        const parsed = parseTokenResponse(body);
        if (parsed) {
          metrics.tokenRequests.inc({ result: 'ok' });
          return parsed;
        }
        metrics.tokenRequests.inc({ result: 'error' });
        throw new TokenFetchError({ kind: 'retry', reason: 'token:malformed-response', status, countsTowardFailover: true });
      }
      const c = classify({ status, headers }, clock.now());
      if (c.kind === 'retry') {
        metrics.tokenRequests.inc({ result: 'error' });
        throw new TokenFetchError({ ...c, reason: `token:${c.reason}` });
      }
      // Any other answer is JIMS refusing our client credentials (RFC 6749 §5.2 uses 400 and 401).
      // The event is retried, not given up: the fix is in JIMS or our settings, and then it must go through.
      metrics.tokenRequests.inc({ result: 'rejected' });
      const l = tokenLog();
      if (l.allowed)
        logger.error(
          { server: name, url, status, style: cfg.tokenRequestStyle, clientId: s.clientId, suppressed: l.suppressed },
          'JIMS rejected the client credentials; check clientId/clientSecret and tokenRequestStyle',
        );
      throw new TokenFetchError({ kind: 'retry', reason: `token-rejected:http:${status}`, status, countsTowardFailover: true });
    };
    const tokens = new TokenCache({
      fetch: fetchToken,
      clock,
      defaultLifetimeSecs: cfg.defaultTokenLifetimeSecs,
      refreshMarginSecs: cfg.tokenRefreshMarginSecs,
    });
    return { name, url, got: client, agent, tokens };
  };

  const servers = new Map<ServerName, Server>(configured.map(([n, s]) => [n, makeServer(n, s)]));
  const failover = new FailoverState({
    hasSecondary: servers.has('secondary'),
    failoverAfterFailures: cfg.failoverAfterFailures,
    probeIntervalMs: cfg.primaryProbeIntervalSecs * 1000,
  });
  const serverOf = (n: ServerName): Server => servers.get(n) ?? (servers.get('primary') as Server);
  const showActive = () => {
    for (const n of servers.keys()) metrics.activeServer.set({ server: n }, n === failover.active() ? 1 : 0);
  };
  showActive();

  const switched = (t: Transition | undefined) => {
    if (!t) return;
    metrics.failovers.inc({ to: t.to });
    showActive();
    logger.warn({ from: t.from, to: t.to, reason: t.reason, url: serverOf(t.to).url }, `JIMS: switched to the ${t.to} server`);
  };

  const noteCert = (c: Classification, srv: Server) => {
    if (c.kind !== 'retry' || !c.untrustedCert) return;
    const l = certLog();
    if (l.allowed)
      logger.error(
        { server: srv.name, url: srv.url, reason: c.reason, suppressed: l.suppressed },
        'JIMS certificate is not trusted; this will not heal by itself: set caFile to the CA that signed it (or, knowingly, tlsVerify: false)',
      );
  };

  let probing: Promise<void> | undefined;
  const maybeProbePrimary = () => {
    const now = clock.now();
    if (!failover.probeDue(now)) return;
    failover.probeStarted(now);
    const primary = serverOf('primary');
    // A token request proves the primary is up and accepts us; it runs beside the pushes, not before them.
    probing = primary.tokens.refresh().then(
      () => switched(failover.probeFinished(true, clock.now())),
      (e: unknown) => {
        logger.debug({ server: 'primary', reason: (e as Error).message }, 'JIMS primary probe failed');
        failover.probeFinished(false, clock.now());
      },
    );
  };

  const attempt = async (srv: Server, rendered: RenderedBody): Promise<Attempt> => {
    let token: string;
    try {
      token = await srv.tokens.get();
    } catch (e) {
      if (e instanceof TokenFetchError) return { c: e.classification, status: e.classification.status, phase: 'token' };
      return { c: { kind: 'retry', reason: 'token:unexpected', countsTowardFailover: false }, phase: 'token' };
    }
    try {
      const res = await srv.got(trimSlashes(cfg.push.path), {
        method: cfg.push.method,
        headers: { 'content-type': rendered.contentType, authorization: `Bearer ${token}` },
        body: rendered.body,
      });
      return {
        c: classify({ status: res.statusCode, headers: res.headers }, clock.now()),
        token,
        status: res.statusCode,
        phase: 'push',
      };
    } catch (e) {
      return { c: classify({ errorCode: errorCode(e) }, clock.now()), token, phase: 'push' };
    }
  };

  const push = async (event: IdentityEvent): Promise<PushOutcome> => {
    maybeProbePrimary();
    const srv = serverOf(failover.active());
    const started = performance.now();
    let outcome: PushOutcome;
    let status: number | undefined;
    let rendered: RenderedBody | undefined;
    try {
      rendered = templates.render(event);
    } catch (e) {
      outcome = { result: 'permanent', reason: `render-failed:${(e as Error).message}`, server: srv.name };
    }
    if (rendered) {
      let a = await attempt(srv, rendered);
      if (a.c.kind === 'auth-failure') {
        // The token may have been revoked or JIMS restarted: one fresh token, one more try.
        if (a.token) srv.tokens.invalidate(a.token);
        a = await attempt(srv, rendered);
      }
      status = a.status;
      const c = a.c;
      noteCert(c, srv);
      if (c.countsTowardFailover) switched(failover.recordFailure(srv.name, clock.now()));
      else if (a.status !== undefined) failover.recordSuccess(srv.name);
      switch (c.kind) {
        case 'delivered':
          outcome = { result: 'delivered', status: c.status, server: srv.name };
          break;
        case 'auth-failure':
          outcome = { result: 'permanent', reason: `auth-rejected:${c.reason}`, status: c.status, server: srv.name };
          break;
        case 'permanent':
          outcome = { result: 'permanent', reason: c.reason, status: c.status, server: srv.name };
          break;
        case 'retry':
          outcome =
            c.retryAfterMs === undefined
              ? { result: 'retry', reason: c.reason, server: srv.name }
              : { result: 'retry', reason: c.reason, retryAfterMs: c.retryAfterMs, server: srv.name };
          break;
      }
    }
    const durationSecs = (performance.now() - started) / 1000;
    metrics.pushDuration.observe({ server: srv.name }, durationSecs);
    const fields = {
      correlationId: event.correlationId,
      ip: event.ip,
      seq: event.seq,
      kind: event.kind,
      server: srv.name,
      url: srv.url,
      status,
      durationMs: Math.round(durationSecs * 1000),
      result: outcome!.result,
      ...('reason' in outcome! ? { reason: outcome.reason } : {}),
      ...('retryAfterMs' in outcome! ? { retryAfterMs: outcome.retryAfterMs } : {}),
    };
    // The push worker logs the one line per outcome (with job id and attempt); this is the HTTP detail.
    logger.debug(fields, `JIMS push ${outcome!.result}`);
    return outcome!;
  };

  const probe = async (): Promise<ProbeResult> => {
    const srv = serverOf(failover.active());
    try {
      if (failover.failures() > 0 || !srv.tokens.hasValidToken()) await srv.tokens.refresh();
      return { reachable: true, server: srv.name };
    } catch (e) {
      return {
        reachable: false,
        server: srv.name,
        detail: e instanceof TokenFetchError ? e.classification.reason : errorCode(e),
      };
    }
  };

  const close = async () => {
    await probing;
    for (const s of servers.values()) s.agent.destroy();
  };

  return { push, probe, close };
}
