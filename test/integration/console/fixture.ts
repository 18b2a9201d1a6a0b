// A bridge with the console on: one admin and one viewer login, one token per role, and helpers
// to log in over HTTP and call the API the way the pages do.
import { hashPassword, hashToken } from '../../../src/console/password.js';

export const ADMIN = { name: 'ada', password: 'admin-password-123' };
export const VIEWER = { name: 'vic', password: 'viewer-password-123' };
export const ADMIN_TOKEN = 'admin-token-0123456789abcdefghijklmnopqrstuvwx';
export const VIEWER_TOKEN = 'viewer-token-0123456789abcdefghijklmnopqrstuvw';

/** Cheap scrypt parameters: tests prove the logic, not the cost. */
const FAST = { N: 1024, r: 8, p: 1 };

export async function consoleOverrides(extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return {
    ops: {
      console: {
        users: [
          { name: ADMIN.name, role: 'admin', passwordHash: await hashPassword(ADMIN.password, FAST) },
          { name: VIEWER.name, role: 'viewer', passwordHash: await hashPassword(VIEWER.password, FAST) },
        ],
        tokens: [
          { name: 'ci-admin', role: 'admin', tokenHash: hashToken(ADMIN_TOKEN) },
          { name: 'ci-viewer', role: 'viewer', tokenHash: hashToken(VIEWER_TOKEN) },
        ],
        ...extra,
      },
    },
  };
}

export interface Login {
  readonly cookie: string;
  readonly csrf: string;
  readonly setCookie: string;
}

/** Logs in with JSON, as a script would; returns the session cookie and the CSRF token. */
export async function login(base: string, user: { name: string; password: string }): Promise<Login> {
  const res = await fetch(`${base}/console/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: user.name, password: user.password }),
  });
  if (res.status !== 200) throw new Error(`login ${user.name}: HTTP ${res.status} ${await res.text()}`);
  const setCookie = res.headers.getSetCookie()[0] ?? '';
  const body = (await res.json()) as { csrf: string };
  return { cookie: setCookie.split(';')[0]!, csrf: body.csrf, setCookie };
}

export function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/console/api/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}
