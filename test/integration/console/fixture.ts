// A bridge with the console on: one admin and one viewer login, one token per role, and helpers
// to log in over HTTP and call the API the way the pages do.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { hashPassword, hashToken } from '../../../src/console/password.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { accounting, e2eConfig, startBridge, startSim, vpnLine, waitFor, type Bridge, type SimHandle } from '../e2e/harness.js';

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

/** Debian's chromium, headless, quiet, with a fresh profile: the browser the console tests and screenshots use. */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(
  viewport = { width: 1000, height: 640 },
): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'ptim-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ConsoleStack {
  readonly redis: TestRedis;
  readonly jims: SimHandle;
  readonly bridge: Bridge;
  readonly base: string;
  /** Makes the simulator refuse pushes for good, sends an UP for `user`, and waits until its job failed. */
  failOne(user: string, ip: string): Promise<void>;
  stop(): Promise<void>;
}

/** Redis, the JIMS simulator and a bridge with the console on, holding three delivered sessions. */
export async function startConsoleStack(extra: Record<string, unknown> = {}): Promise<ConsoleStack> {
  const redis = await startRedis();
  const jims = await startSim();
  const bridge = await startBridge(e2eConfig(redis, jims.port, await consoleOverrides(extra)));
  const users = [
    ['alice', '192.0.2.21'],
    ['bob', '192.0.2.22'],
    ['carol', '2001:db8::23'],
  ] as const;
  for (const [user, ip] of users) await bridge.send([vpnLine({ kind: 'up', user, ip, vpn: 'ra-vpn', host: 'srx-edge-1' })]);
  await waitFor(async () => (await accounting(bridge.metrics)).delivered >= users.length, { what: 'three pushes' });
  return {
    redis,
    jims,
    bridge,
    base: bridge.opsUrl(),
    async failOne(user, ip) {
      const before = await bridge.metric('ptim_push_total', { outcome: 'permanent' });
      jims.sim.setFaults({ pushStatus: 400 });
      await bridge.send([vpnLine({ kind: 'up', user, ip })]);
      await waitFor(async () => (await bridge.metric('ptim_push_total', { outcome: 'permanent' })) > before, {
        what: 'a failed push',
      });
      jims.sim.setFaults({ pushStatus: null });
    },
    async stop() {
      await bridge.stop();
      await jims.sim.close();
      await redis.stop();
    },
  };
}
