import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createJimsSimulator, type JimsSimulator } from '../../../src/jims-sim/simulator.js';
import { buildTokenRequest } from '../../../src/jims/token.js';

const SECRET = 'sim-Secret-123';
let sim: JimsSimulator;
let url: string;
let t = Date.UTC(2026, 0, 15, 12, 0, 0);
const clock = { now: () => t };

beforeAll(async () => {
  sim = createJimsSimulator({
    clients: [{ clientId: 'srx1', clientSecret: SECRET }],
    tokenLifetimeSecs: 300,
    clock,
    random: () => 0.5,
  });
  url = (await sim.listen(0)).url;
});
afterAll(async () => {
  await sim.close();
});
beforeEach(() => {
  sim.reset();
  sim.setFaults({ offline: false, errorRate: 0, pushStatus: null, retryAfter: null, tokenLifetimeSecs: null });
});

async function token(style: 'json' | 'form' | 'basic' = 'json', secret = SECRET): Promise<Response> {
  const r = buildTokenRequest(style, 'srx1', secret);
  return fetch(`${url}/oauth_token/oauth`, { method: 'POST', headers: r.headers, body: r.body });
}

async function bearer(): Promise<string> {
  const body = (await (await token()).json()) as { access_token: string };
  return body.access_token;
}

const xml = (op: string, ip: string, user: string) =>
  `<userfw-entries><userfw-entry><source>s</source><timestamp>2026-01-15T12:00:00.000Z</timestamp>` +
  `<operation>${op}</operation><IP>${ip}</IP><domain>example.com</domain><user>${user}</user></userfw-entry></userfw-entries>`;

async function post(body: string, tok: string): Promise<Response> {
  return fetch(`${url}/api/userfw/v1/post-entry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/xml' },
    body,
  });
}

const simGet = async (p: string) => (await fetch(`${url}/_sim/${p}`)).json() as Promise<Record<string, unknown>>;

describe('JIMS simulator', () => {
  it.each(['json', 'form', 'basic'] as const)('issues Bearer tokens for %s token requests', async (style) => {
    const res = await token(style);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 300 });
    expect(body.access_token).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('wrong credentials ⇒ 401; wrong grant type ⇒ 400', async () => {
    expect((await token('json', 'nope')).status).toBe(401);
    const res = await fetch(`${url}/oauth_token/oauth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=password&client_id=srx1&client_secret=${SECRET}`,
    });
    expect(res.status).toBe(400);
    expect(sim.counters()).toMatchObject({ tokens: 0, tokenRejects: 2 });
  });

  it('push needs a valid, unexpired token', async () => {
    expect((await post(xml('logon', '192.0.2.1', 'alice'), 'not-a-token')).status).toBe(401);
    const tok = await bearer();
    expect((await post(xml('logon', '192.0.2.1', 'alice'), tok)).status).toBe(200);
    t += 300_000;
    expect((await post(xml('logon', '192.0.2.1', 'alice'), tok)).status).toBe(401);
    expect(sim.counters()).toMatchObject({ unauthorized: 2, rejects: 2, pushes: 1 });
  });

  it('logon upserts, identical logon is a refresh, logoff only removes the matching user', async () => {
    const tok = await bearer();
    await post(xml('logon', '192.0.2.1', 'alice'), tok);
    await post(xml('logon', '192.0.2.1', 'alice'), tok);
    await post(xml('logon', '192.0.2.1', 'bob'), tok);
    await post(xml('logoff', '192.0.2.1', 'alice'), tok);
    expect(sim.identities()['192.0.2.1']).toMatchObject({ user: 'bob' });
    await post(xml('logoff', '192.0.2.1', 'bob'), tok);
    expect(sim.identities()).toEqual({});
    expect(sim.operations().map((o) => o.result)).toEqual(['added', 'refreshed', 'replaced', 'ignored', 'removed']);
    expect(sim.counters()).toMatchObject({ logons: 2, refreshes: 1, replaced: 1, logoffsIgnored: 1, logoffs: 1, pushes: 5 });
  });

  it('a malformed body ⇒ 400 (shape, operation, IP)', async () => {
    const tok = await bearer();
    expect((await post('<nope/>', tok)).status).toBe(400);
    expect((await post(xml('dance', '192.0.2.1', 'alice'), tok)).status).toBe(400);
    expect((await post(xml('logon', 'not-an-ip', 'alice'), tok)).status).toBe(400);
    expect((await post(xml('logon', '192.0.2.1', 'a<b'), tok)).status).toBe(400);
    expect(sim.counters()).toMatchObject({ malformed: 4, pushes: 0 });
  });

  it('/_sim/ shows identities, counters, requests (masked) and changes faults at runtime', async () => {
    const tok = await bearer();
    await post(xml('logon', '2001:db8::9', 'carol'), tok);
    expect(await simGet('identities')).toMatchObject({
      count: 1,
      identities: { '2001:db8::9': { user: 'carol', domain: 'example.com' } },
    });
    expect(await simGet('counters')).toMatchObject({ tokens: 1, pushes: 1, logons: 1 });
    const requests = JSON.stringify(await simGet('requests'));
    expect(requests).not.toContain(SECRET);
    expect(requests).not.toContain(tok);
    expect(requests).toContain('[masked]');

    const set = await fetch(`${url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ errorRate: 0.6, retryAfter: '2' }) });
    expect(await set.json()).toMatchObject({ errorRate: 0.6, retryAfter: '2', offline: false });
    const r = await post(xml('logon', '192.0.2.2', 'dave'), tok); // random() = 0.5 < 0.6
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('2');
    expect((await fetch(`${url}/_sim/faults`, { method: 'POST', body: '{"errorRate": 7}' })).status).toBe(400);
    expect((await fetch(`${url}/_sim/faults`, { method: 'POST', body: '{"bogus": 1}' })).status).toBe(400);
  });

  it('/_sim/ keeps answering while offline, so the fault can be lifted over HTTP', async () => {
    await fetch(`${url}/_sim/faults`, { method: 'POST', body: '{"offline":"refuse"}' });
    await expect(token()).rejects.toThrow();
    expect(await simGet('counters')).toMatchObject({ dropped: 1 });
    await fetch(`${url}/_sim/faults`, { method: 'POST', body: '{"offline":false}' });
    expect((await token()).status).toBe(200);
  });

  it('a fault lifetime shortens new tokens; reset clears state; revoke-tokens invalidates tokens', async () => {
    sim.setFaults({ tokenLifetimeSecs: 5 });
    expect(((await (await token()).json()) as { expires_in: number }).expires_in).toBe(5);
    const tok = await bearer();
    await post(xml('logon', '192.0.2.3', 'erin'), tok);
    await fetch(`${url}/_sim/reset`, { method: 'POST' });
    expect(sim.identities()).toEqual({});
    expect(sim.counters().pushes).toBe(0);
    expect((await post(xml('logon', '192.0.2.3', 'erin'), tok)).status).toBe(200);
    await fetch(`${url}/_sim/revoke-tokens`, { method: 'POST' });
    expect((await post(xml('logon', '192.0.2.3', 'erin'), tok)).status).toBe(401);
  });

  it('unknown paths ⇒ 404', async () => {
    expect((await fetch(`${url}/nothing`)).status).toBe(404);
    expect((await fetch(`${url}/_sim/nothing`)).status).toBe(404);
  });

  describe('bodies carrying many entries', () => {
    const entry = (op: string, ip: string, user: string) =>
      `<userfw-entry><source>s</source><timestamp>2026-01-15T12:00:00.000Z</timestamp>` +
      `<operation>${op}</operation><IP>${ip}</IP><domain>example.com</domain><user>${user}</user></userfw-entry>`;
    const list = (...entries: string[]) => `<userfw-entries>\n${entries.join('\n')}\n</userfw-entries>`;

    it('applies every entry in order (mixed IPs, one IP twice)', async () => {
      const tok = await bearer();
      const res = await post(
        list(entry('logon', '192.0.2.1', 'alice'), entry('logon', '2001:db8::2', 'bob'), entry('logoff', '192.0.2.1', 'alice')),
        tok,
      );
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        results: [
          { result: 'added', ip: '192.0.2.1' },
          { result: 'added', ip: '2001:db8::2' },
          { result: 'removed', ip: '192.0.2.1' },
        ],
      });
      expect(sim.operations().map((o) => [o.op, o.ip])).toEqual([
        ['logon', '192.0.2.1'],
        ['logon', '2001:db8::2'],
        ['logoff', '192.0.2.1'],
      ]);
      expect(sim.counters()).toMatchObject({ pushes: 3, pushRequests: 1 });
    });

    it('refuses the whole body when one entry is bad, and applies none of it', async () => {
      const tok = await bearer();
      const res = await post(list(entry('logon', '192.0.2.1', 'alice'), entry('logon', '192.0.2.2', '')), tok);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: 'malformed', detail: 'entry 2: empty user' });
      expect(sim.identities()).toEqual({});
      expect(sim.counters()).toMatchObject({ pushes: 0, malformed: 1 });
    });
  });
});
