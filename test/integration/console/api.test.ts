// The console's access rules over real HTTP against the assembled bridge: unauthenticated calls
// are refused, roles and CSRF are enforced on changes, tokens work for the API, failed logins
// are throttled, and the ops endpoints stay as they were.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { accounting, e2eConfig, startBridge, startSim, vpnLine, waitFor, type Bridge, type SimHandle } from '../e2e/harness.js';
import { ADMIN, ADMIN_TOKEN, consoleOverrides, login, post, VIEWER, VIEWER_TOKEN } from './fixture.js';

let redis: TestRedis;
let jims: SimHandle;
let bridge: Bridge;
let base: string;

beforeAll(async () => {
  redis = await startRedis();
  jims = await startSim();
  bridge = await startBridge(e2eConfig(redis, jims.port, await consoleOverrides({ loginMaxFailures: 3, loginLockoutSecs: 60 })));
  base = bridge.opsUrl();
});

afterAll(async () => {
  await bridge?.stop();
  await jims?.sim.close();
  await redis?.stop();
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('console access', () => {
  it('refuses the API without a cookie or token (401) and sends pages to the login form', async () => {
    expect((await fetch(`${base}/console/api/me`)).status).toBe(401);
    expect((await fetch(`${base}/console/api/sessions`, { headers: bearer('not-a-token') })).status).toBe(401);
    expect((await fetch(`${base}/console/api/me`, { headers: { cookie: 'ptim_console=forged' } })).status).toBe(401);
    const page = await fetch(`${base}/console/sessions`, { redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/console/login');
    expect((await fetch(`${base}/console/login`)).status).toBe(200);
    // The ops endpoints are unchanged and need no login.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });

  it('logs in with a session cookie that is HttpOnly and SameSite=Strict', async () => {
    const l = await login(base, VIEWER);
    expect(l.setCookie).toMatch(/HttpOnly/);
    expect(l.setCookie).toMatch(/SameSite=Strict/);
    expect(l.setCookie).not.toMatch(/Secure/); // plain HTTP here; see the TLS test
    const me = await fetch(`${base}/console/api/me`, { headers: { cookie: l.cookie } });
    expect(await me.json()).toMatchObject({ user: VIEWER.name, role: 'viewer' });
    const wrong = await fetch(`${base}/console/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: VIEWER.name, password: 'nope' }),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.getSetCookie()).toEqual([]);
    // Log out ends the session.
    await fetch(`${base}/console/logout`, { method: 'POST', headers: { cookie: l.cookie }, redirect: 'manual' });
    expect((await fetch(`${base}/console/api/me`, { headers: { cookie: l.cookie } })).status).toBe(401);
  });

  it('gives viewers 403 on mutations, with a cookie or a token, and audits admins', async () => {
    const v = await login(base, VIEWER);
    const asViewer = await post(base, 'failed/retry', { all: true }, { cookie: v.cookie, 'x-csrf-token': v.csrf });
    expect(asViewer.status).toBe(403);
    expect((await post(base, 'failed/purge', {}, bearer(VIEWER_TOKEN))).status).toBe(403);
    // Viewers may read and use the playground.
    expect((await fetch(`${base}/console/api/queue`, { headers: bearer(VIEWER_TOKEN) })).status).toBe(200);
    const a = await login(base, ADMIN);
    const asAdmin = await post(base, 'failed/retry', { all: true }, { cookie: a.cookie, 'x-csrf-token': a.csrf });
    expect(asAdmin.status).toBe(200);
    expect((await post(base, 'failed/purge', {}, bearer(ADMIN_TOKEN))).status).toBe(200);
    expect(await bridge.metric('ptim_console_admin_actions_total', { result: 'refused' })).toBe(2);
    expect(await bridge.metric('ptim_console_admin_actions_total', { result: 'ok' })).toBe(2);
  });

  it('refuses a cookie-authenticated change without the CSRF token, or from another origin', async () => {
    const a = await login(base, ADMIN);
    expect((await post(base, 'failed/retry', { all: true }, { cookie: a.cookie })).status).toBe(403);
    expect((await post(base, 'failed/retry', { all: true }, { cookie: a.cookie, 'x-csrf-token': 'guess' })).status).toBe(403);
    const cross = await post(
      base,
      'failed/retry',
      { all: true },
      { cookie: a.cookie, 'x-csrf-token': a.csrf, origin: 'http://evil.example' },
    );
    expect(cross.status).toBe(403);
    const xlogin = await fetch(`${base}/console/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
      body: JSON.stringify({ user: ADMIN.name, password: ADMIN.password }),
    });
    expect(xlogin.status).toBe(403);
  });

  it('serves sessions, the IP timeline and the playground over the API', async () => {
    await bridge.send([vpnLine({ kind: 'up', user: 'carol', ip: '192.0.2.77' })]);
    await waitFor(async () => (await accounting(bridge.metrics)).delivered >= 1, { what: 'the push' });
    const h = bearer(VIEWER_TOKEN);
    const page = (await (await fetch(`${base}/console/api/sessions?q=carol&field=user`, { headers: h })).json()) as {
      sessions: { ip: string; user: string }[];
    };
    expect(page.sessions.map((s) => `${s.user} ${s.ip}`)).toEqual(['carol 192.0.2.77']);
    await waitFor(
      async () => {
        const d = (await (await fetch(`${base}/console/api/ip/192.0.2.77`, { headers: h })).json()) as { history: unknown[] };
        return d.history.length >= 3;
      },
      { what: 'the timeline' },
    );
    const x = (await (
      await post(base, 'patterns/explain', { text: vpnLine({ kind: 'down', user: 'dan', ip: '192.0.2.9' }) }, h)
    ).json()) as {
      results: { matched?: { patternId: string }; result?: { type: string } }[];
    };
    expect(x.results[0]?.matched?.patternId).toBeTruthy();
    expect(x.results[0]?.result?.type).toBe('event');
    const health = (await (await fetch(`${base}/console/api/health`, { headers: h })).json()) as {
      ready: boolean;
      jims: unknown;
    };
    expect(health.ready).toBe(true);
    expect(JSON.stringify(health)).not.toContain('e2e-secret-not-real');
  });

  it('streams decisions live over SSE', async () => {
    const ac = new AbortController();
    const res = await fetch(`${base}/console/api/live`, { headers: bearer(VIEWER_TOKEN), signal: ac.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const until = async (want: string) => {
      while (!text.includes(want)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${want}`);
        text += value;
      }
    };
    await until('event: ready');
    await bridge.send([vpnLine({ kind: 'up', user: 'erin', ip: '192.0.2.78' })]);
    await until('"ip":"192.0.2.78"');
    expect(text).toMatch(/event: decisions\ndata: \[.*"decision":"connect".*"user":"erin"/);
    ac.abort();
  });

  // Last: it throttles 127.0.0.1, which every test logs in from.
  it('throttles failed logins per address and name, then lets them in after the lockout', async () => {
    const attempt = (password: string) =>
      fetch(`${base}/console/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: VIEWER.name, password }),
      });
    for (let i = 0; i < 3; i++) expect((await attempt('wrong')).status).toBe(401);
    const refused = await attempt(VIEWER.password);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await bridge.metric('ptim_console_logins_total', { result: 'throttled' })).toBe(1);
    bridge.clock.advance(61_000);
    expect((await attempt(VIEWER.password)).status).toBe(200);
  });
});
