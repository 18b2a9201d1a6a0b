// The operator console, mounted on the ops listener under /console/: login and logout, the pages
// and their assets, the JSON API and the live event stream. Every page and API call needs a
// session cookie or a bearer token; changes need the CSRF token (browsers) and, for the failed
// set, the admin role.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { ConsoleConfig } from '../config/schema.js';
import { rateLimiter } from '../log.js';
import type { ConsoleHandler } from '../ops/server.js';
import { historyKeys } from '../history/recorder.js';
import { findRoute, type ApiDeps } from './api.js';
import { loadAssets } from './assets.js';
import { createConsoleAuth, sameOrigin, type ConsoleAuth } from './auth.js';
import { clientAddress, HttpError, redirect, send, sendJson } from './http.js';
import { createLiveHub } from './live.js';
import { createSampler } from './series.js';

export interface ConsoleDeps extends Omit<ApiDeps, 'sampler'> {
  readonly cfg: ConsoleConfig;
  /** The ops listener is HTTPS. */
  readonly secure: boolean;
  /** Opens the Redis connection the live view subscribes with. */
  readonly subscriber: () => Redis;
  /** Sampling interval of the health charts (default 5 s). */
  readonly sampleIntervalMs?: number;
}

/** True when the console has credentials and so is served at all. */
export const consoleConfigured = (cfg: ConsoleConfig) => cfg.users.length + cfg.tokens.length > 0;

export function createConsole(deps: ConsoleDeps): ConsoleHandler {
  const sampler = createSampler({ metrics: deps.metrics, clock: deps.clock, intervalMs: deps.sampleIntervalMs });
  const api: ApiDeps = { ...deps, sampler };
  const auth = createConsoleAuth(deps);
  const live = createLiveHub({ subscriber: deps.subscriber, channel: historyKeys(deps.keyPrefix).live });
  const assets = loadAssets();
  const errorLog = rateLimiter(6, () => deps.clock.now());

  const page = (res: ServerResponse, name: string) => {
    const a = assets.get(name);
    if (!a) return send(res, 404, 'not found', 'text/plain');
    send(res, 200, a.body, a.type, { 'cache-control': name.endsWith('.html') ? 'no-store' : 'no-cache', etag: a.etag });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/console') return redirect(res, '/console/');
    if (path.startsWith('/console/assets/') && (method === 'GET' || method === 'HEAD')) {
      const a = assets.get(path.slice('/console/assets/'.length));
      if (a && req.headers['if-none-match'] === a.etag) return send(res, 304, '', a.type, { etag: a.etag });
      return page(res, path.slice('/console/assets/'.length));
    }
    if (path === '/console/login') {
      if (method === 'POST') return auth.login(req, res);
      return page(res, 'login.html');
    }
    if (path === '/console/logout' && method === 'POST') {
      if (!sameOrigin(req)) return sendJson(res, 403, { error: 'cross-origin request refused' });
      return auth.logout(req, res);
    }
    const principal = auth.principal(req);
    if (path.startsWith('/console/api/')) return apiCall(req, res, url, principal);
    if (!principal) return redirect(res, '/console/login');
    if (method !== 'GET' && method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' });
    page(res, 'index.html');
  };

  const apiCall = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    principal: ReturnType<ConsoleAuth['principal']>,
  ) => {
    if (!principal) return sendJson(res, 401, { error: 'log in, or send Authorization: Bearer <token>' });
    const parts = url.pathname.slice('/console/api/'.length).split('/').filter(Boolean);
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    if (method === 'GET' && parts.join('/') === 'live') {
      if (!(await live.attach(res))) sendJson(res, 503, { error: 'too many live views open' });
      return;
    }
    const route = findRoute(method, parts);
    if (!route) return sendJson(res, 404, { error: 'no such API route' });
    if (method !== 'GET' && !auth.csrfOk(req, principal))
      return sendJson(res, 403, { error: 'missing or wrong CSRF token (x-csrf-token), or cross-origin request' });
    if (route.admin && principal.role !== 'admin') {
      deps.metrics.consoleAdminActions.inc({ action: route.path.split('/').pop()!, result: 'refused' });
      deps.logger.info(
        {
          audit: true,
          actor: principal.user,
          role: principal.role,
          via: principal.via,
          clientIp: clientAddress(req),
          action: route.path,
          result: 'refused',
        },
        'console admin action',
      );
      return sendJson(res, 403, { error: 'this needs the admin role' });
    }
    sendJson(res, 200, await route.handler(api, { req, url, principal, parts }));
  };

  return {
    handles: (path) => path === '/console' || path.startsWith('/console/'),
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://console.invalid');
      handle(req, res, url).catch((e: unknown) => {
        const status = e instanceof HttpError ? e.status : 500;
        if (status === 500) {
          const { allowed, suppressed } = errorLog();
          if (allowed) deps.logger.warn({ err: (e as Error).message, path: url.pathname, suppressed }, 'console request failed');
        }
        if (!res.headersSent) sendJson(res, status, { error: status === 500 ? 'internal error (logged)' : (e as Error).message });
        else res.end();
      });
    },
    start: () => sampler.start(),
    async close() {
      sampler.stop();
      await live.close();
    },
  };
}
