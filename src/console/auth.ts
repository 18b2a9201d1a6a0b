// Who is asking: a browser session (cookie) or an API bearer token, each with a role. Login
// checks scrypt hashes behind a throttle; changes from a browser need the session's CSRF token
// and a same-origin Origin header. Passwords and tokens are never logged or echoed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { ConsoleConfig, ConsoleRole } from '../config/schema.js';
import { createEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock } from '../types.js';
import { clientAddress, parseCookies, readFields, redirect, sendJson } from './http.js';
import { tokenMatches, verifyPassword } from './password.js';
import { createSessionStore } from './sessions.js';
import { createLoginThrottle } from './throttle.js';

export interface Principal {
  readonly user: string;
  readonly role: ConsoleRole;
  readonly via: 'cookie' | 'token';
  /** Browser sessions only: what the pages must send back in `x-csrf-token` on a change. */
  readonly csrf?: string;
}

export interface ConsoleAuth {
  principal(req: IncomingMessage): Principal | undefined;
  /** A change (POST) is allowed for this principal: token, or cookie with the CSRF token and our Origin. */
  csrfOk(req: IncomingMessage, p: Principal): boolean;
  login(req: IncomingMessage, res: ServerResponse): Promise<void>;
  logout(req: IncomingMessage, res: ServerResponse): void;
}

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** Browsers send Origin on every POST; when present it must be this server. */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export function createConsoleAuth(deps: {
  cfg: ConsoleConfig;
  /** TLS listener: the cookie is Secure and __Host- prefixed. */
  secure: boolean;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
}): ConsoleAuth {
  const { cfg, secure, clock, logger, metrics } = deps;
  const cookieName = secure ? '__Host-ptim_console' : 'ptim_console';
  const store = createSessionStore({ ttlMs: cfg.sessionTtlSecs * 1000, clock });
  const throttle = createLoginThrottle({ maxFailures: cfg.loginMaxFailures, windowMs: cfg.loginLockoutSecs * 1000, clock });
  const emit = createEvents({ metrics, logger, now: () => clock.now() });
  const cookie = (value: string, maxAgeSecs: number) =>
    `${cookieName}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSecs}${secure ? '; Secure' : ''}`;
  const wantsJson = (req: IncomingMessage) =>
    (req.headers['content-type'] ?? '').includes('application/json') || (req.headers.accept ?? '').includes('application/json');

  const fromToken = (req: IncomingMessage): Principal | undefined => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return undefined;
    const t = cfg.tokens.find((x) => tokenMatches(m[1]!, x.tokenHash));
    return t ? { user: `token:${t.name}`, role: t.role, via: 'token' } : undefined;
  };

  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, error: string, retryAfterSecs?: number) => {
    const headers: Record<string, string> = retryAfterSecs ? { 'retry-after': String(retryAfterSecs) } : {};
    if (wantsJson(req)) return sendJson(res, status, { error, ...(retryAfterSecs ? { retryAfterSecs } : {}) }, headers);
    redirect(res, `/console/login?error=${status === 429 ? 'throttled' : 'failed'}`, headers);
  };

  return {
    principal(req) {
      if (req.headers.authorization) return fromToken(req);
      const s = store.get(parseCookies(req.headers.cookie)[cookieName]);
      return s ? { user: s.user, role: s.role, via: 'cookie', csrf: s.csrf } : undefined;
    },
    csrfOk(req, p) {
      if (p.via === 'token') return true;
      const sent = req.headers['x-csrf-token'];
      return sameOrigin(req) && typeof sent === 'string' && !!p.csrf && same(sent, p.csrf);
    },
    async login(req, res) {
      if (!sameOrigin(req)) return refuse(req, res, 403, 'cross-origin login refused');
      const f = await readFields(req, 8 * 1024);
      const user = typeof f.user === 'string' ? f.user : '';
      const password = typeof f.password === 'string' ? f.password : '';
      const ip = clientAddress(req);
      const waitMs = throttle.retryAfterMs(ip, user);
      if (waitMs > 0) {
        metrics.consoleLogins.inc({ result: 'throttled' });
        return refuse(req, res, 429, 'too many failed logins; try again later', Math.ceil(waitMs / 1000));
      }
      const account = cfg.users.find((u) => u.name === user);
      if (!(await verifyPassword(password, account?.passwordHash)) || !account) {
        throttle.failed(ip, user);
        emit('console_login_failed', { user: user.slice(0, 64), clientIp: ip });
        return refuse(req, res, 401, 'wrong user name or password');
      }
      throttle.succeeded(ip, user);
      metrics.consoleLogins.inc({ result: 'ok' });
      const { id, session } = store.create(account.name, account.role);
      logger.info({ user: account.name, role: account.role, clientIp: ip }, 'console login');
      const setCookie = { 'set-cookie': cookie(id, cfg.sessionTtlSecs) };
      if (wantsJson(req)) return sendJson(res, 200, { user: account.name, role: account.role, csrf: session.csrf }, setCookie);
      redirect(res, '/console/', setCookie);
    },
    logout(req, res) {
      store.destroy(parseCookies(req.headers.cookie)[cookieName]);
      redirect(res, '/console/login', { 'set-cookie': cookie('', 0) });
    },
  };
}
