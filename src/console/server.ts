// The operator console, mounted on the ops listener under /console/: login and logout, the pages
// and their assets, the JSON API and the live event stream. Every page and API call needs a
// session cookie or a bearer token; changes need the CSRF token (browsers) and, for the failed
// set, the admin role.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RedisClient } from '../redis/connection.js';
import type { ConsoleConfig } from '../config/schema.js';
import { createEvents } from '../events.js';
import type { ConsoleHandler } from '../ops/server.js';
import { historyKeys } from '../history/recorder.js';
import { cachedInspect, findRoute, type ApiDeps } from './api.js';
import { loadAssets, type Asset } from './assets.js';
import { auditAction } from './audit.js';
import { createConsoleAuth, sameOrigin, type ConsoleAuth, type Principal } from './auth.js';
import { clientAddress, HttpError, redirect, send, sendJson } from './http.js';
import { createLiveHub, type LiveHub } from './live.js';
import { createSampler } from './series.js';

export interface ConsoleDeps extends Omit<ApiDeps, 'sampler' | 'inspect'> {
  readonly cfg: ConsoleConfig;
  /** The ops listener is HTTPS. */
  readonly secure: boolean;
  /** Opens the Redis connection the live view subscribes with. */
  readonly subscriber: () => RedisClient;
  /** Sampling interval of the health charts (default 5 s). */
  readonly sampleIntervalMs?: number;
  /** Syslog messages received so far (the receive thread counts them; see createSampler). */
  readonly receivedTotal?: () => Promise<number>;
}

interface Ctx {
  readonly deps: ConsoleDeps;
  readonly api: ApiDeps;
  readonly auth: ConsoleAuth;
  readonly live: LiveHub;
  readonly assets: ReadonlyMap<string, Asset>;
}

function page(ctx: Ctx, req: IncomingMessage, res: ServerResponse, name: string): void {
  const a = ctx.assets.get(name);
  if (!a) return send(res, 404, 'not found', 'text/plain');
  if (req.headers['if-none-match'] === a.etag) return send(res, 304, '', a.type, { etag: a.etag });
  send(res, 200, a.body, a.type, { 'cache-control': name.endsWith('.html') ? 'no-store' : 'no-cache', etag: a.etag });
}

/** Everything under /console/ that is not the API: redirects, assets, login, logout, the page shell. */
async function serve(ctx: Ctx, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const read = method === 'GET' || method === 'HEAD';
  if (path === '/console') return redirect(res, '/console/');
  if (path.startsWith('/console/assets/') && read) return page(ctx, req, res, path.slice('/console/assets/'.length));
  if (path === '/console/login') return method === 'POST' ? ctx.auth.login(req, res) : page(ctx, req, res, 'login.html');
  if (path === '/console/logout' && method === 'POST') {
    if (!sameOrigin(req)) return sendJson(res, 403, { error: 'cross-origin request refused' });
    return ctx.auth.logout(req, res);
  }
  const principal = ctx.auth.principal(req);
  if (path.startsWith('/console/api/')) return serveApi(ctx, req, res, url, principal);
  if (!principal) return redirect(res, '/console/login');
  if (!read) return sendJson(res, 405, { error: 'method not allowed' });
  page(ctx, req, res, 'index.html');
}

async function serveApi(ctx: Ctx, req: IncomingMessage, res: ServerResponse, url: URL, principal: Principal | undefined) {
  if (!principal) return sendJson(res, 401, { error: 'log in, or send Authorization: Bearer <token>' });
  const parts = url.pathname.slice('/console/api/'.length).split('/').filter(Boolean);
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  if (method === 'GET' && parts.join('/') === 'live') {
    if (!(await ctx.live.attach(res))) sendJson(res, 503, { error: 'too many live views open' });
    return;
  }
  const route = findRoute(method, parts);
  if (!route) return sendJson(res, 404, { error: 'no such API route' });
  if (method !== 'GET' && !ctx.auth.csrfOk(req, principal))
    return sendJson(res, 403, { error: 'missing or wrong CSRF token (x-csrf-token), or cross-origin request' });
  if (route.admin && principal.role !== 'admin') {
    auditAction(ctx.deps, { principal, clientIp: clientAddress(req) }, route.path.split('/').pop()!, 'refused');
    return sendJson(res, 403, { error: 'this needs the admin role' });
  }
  sendJson(res, 200, await route.handler(ctx.api, { req, url, principal, parts }));
}

export function createConsole(deps: ConsoleDeps): ConsoleHandler {
  const sampler = createSampler({
    metrics: deps.metrics,
    clock: deps.clock,
    intervalMs: deps.sampleIntervalMs,
    ...(deps.receivedTotal ? { receivedTotal: deps.receivedTotal } : {}),
  });
  const ctx: Ctx = {
    deps,
    api: { ...deps, sampler, inspect: cachedInspect(deps.patterns.dirs, deps.clock) },
    auth: createConsoleAuth(deps),
    live: createLiveHub({ subscriber: deps.subscriber, channel: historyKeys(deps.keyPrefix).live }),
    assets: loadAssets(),
  };
  const emit = createEvents({ metrics: deps.metrics, logger: deps.logger, now: () => deps.clock.now() });
  return {
    handles: (path) => path === '/console' || path.startsWith('/console/'),
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://console.invalid');
      serve(ctx, req, res, url).catch((e: unknown) => {
        const status = e instanceof HttpError ? e.status : 500;
        if (status === 500) emit('console_request_failed', { err: e, path: url.pathname });
        if (!res.headersSent) sendJson(res, status, { error: status === 500 ? 'internal error (logged)' : (e as Error).message });
        else res.end();
      });
    },
    start: () => sampler.start(),
    async close() {
      sampler.stop();
      await ctx.live.close();
    },
  };
}
