import { describe, expect, it } from 'vitest';
import { TokenCache, buildTokenRequest, parseTokenResponse, type TokenResponse } from '../../../src/jims/token.js';

function fakeClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** A token endpoint the test answers by hand, so concurrency is visible. */
function scriptedFetch() {
  const calls: Array<{ resolve: (r: TokenResponse) => void; reject: (e: Error) => void }> = [];
  let n = 0;
  const fetch = () =>
    new Promise<TokenResponse>((resolve, reject) => {
      calls.push({ resolve, reject });
    });
  const answer = (r: Partial<TokenResponse> = {}) => {
    const c = calls.shift();
    if (!c) throw new Error('no pending token request');
    c.resolve({ accessToken: `tok-${++n}`, ...r });
  };
  const fail = () => calls.shift()?.reject(new Error('boom'));
  return { fetch, answer, fail, pending: () => calls.length };
}

describe('buildTokenRequest', () => {
  it('json style', () => {
    const r = buildTokenRequest('json', 'srx1', 's3cr=t');
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({ grant_type: 'client_credentials', client_id: 'srx1', client_secret: 's3cr=t' });
  });
  it('form style', () => {
    const r = buildTokenRequest('form', 'srx 1', 'a&b');
    expect(r.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(r.body))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'srx 1',
      client_secret: 'a&b',
    });
  });
  it('basic style form-encodes id and secret before base64 (RFC 6749 §2.3.1)', () => {
    const r = buildTokenRequest('basic', 'srx:1', 'p w');
    expect(r.body).toBe('grant_type=client_credentials');
    const b64 = r.headers.authorization?.replace(/^Basic /, '') ?? '';
    expect(Buffer.from(b64, 'base64').toString()).toBe('srx%3A1:p+w');
  });
});

describe('parseTokenResponse', () => {
  it.each([
    ['{"access_token":"abc","expires_in":3600}', { accessToken: 'abc', expiresInSecs: 3600 }],
    ['{"access_token":"abc","expires_in":"60"}', { accessToken: 'abc', expiresInSecs: 60 }],
    ['{"access_token":"abc"}', { accessToken: 'abc' }],
    ['{"access_token":"abc","expires_in":-5}', { accessToken: 'abc' }],
    ['{"access_token":""}', undefined],
    ['{"token":"abc"}', undefined],
    ['not json', undefined],
    ['null', undefined],
  ])('%s', (body, out) => {
    expect(parseTokenResponse(body)).toEqual(out);
  });
});

describe('TokenCache', () => {
  const opts = (fetch: () => Promise<TokenResponse>, clock: { now(): number }) => ({
    fetch,
    clock,
    defaultLifetimeSecs: 28800,
    refreshMarginSecs: 60,
  });

  it('concurrent callers share one token request', async () => {
    const s = scriptedFetch();
    const c = new TokenCache(opts(s.fetch, fakeClock()));
    const all = Promise.all([c.get(), c.get(), c.get()]);
    expect(s.pending()).toBe(1);
    s.answer({ expiresInSecs: 3600 });
    expect(await all).toEqual(['tok-1', 'tok-1', 'tok-1']);
  });

  it('reuses the token until the refresh margin, then asks again', async () => {
    const s = scriptedFetch();
    const clock = fakeClock();
    const c = new TokenCache(opts(s.fetch, clock));
    const first = c.get();
    s.answer({ expiresInSecs: 600 });
    expect(await first).toBe('tok-1');
    clock.advance(539_000);
    expect(await c.get()).toBe('tok-1');
    expect(s.pending()).toBe(0);
    clock.advance(1_000); // 540 s = 600 - 60 margin
    const second = c.get();
    expect(s.pending()).toBe(1);
    s.answer({ expiresInSecs: 600 });
    expect(await second).toBe('tok-2');
  });

  it('a missing expires_in means the default lifetime', async () => {
    const s = scriptedFetch();
    const clock = fakeClock();
    const c = new TokenCache(opts(s.fetch, clock));
    const p = c.get();
    s.answer();
    await p;
    clock.advance((28800 - 61) * 1000);
    expect(c.hasValidToken()).toBe(true);
    clock.advance(2000);
    expect(c.hasValidToken()).toBe(false);
  });

  it('a lifetime shorter than the margin still caches for half of it', async () => {
    const s = scriptedFetch();
    const clock = fakeClock();
    const c = new TokenCache(opts(s.fetch, clock));
    const p = c.get();
    s.answer({ expiresInSecs: 2 });
    await p;
    clock.advance(999);
    expect(c.hasValidToken()).toBe(true);
    clock.advance(1);
    expect(c.hasValidToken()).toBe(false);
  });

  it('invalidate forgets the rejected token only', async () => {
    const s = scriptedFetch();
    const c = new TokenCache(opts(s.fetch, fakeClock()));
    const p = c.get();
    s.answer({ expiresInSecs: 600 });
    await p;
    c.invalidate('some-older-token');
    expect(await c.get()).toBe('tok-1');
    c.invalidate('tok-1');
    const q = c.get();
    expect(s.pending()).toBe(1);
    s.answer({ expiresInSecs: 600 });
    expect(await q).toBe('tok-2');
  });

  it('a failed request rejects every waiter and the next call tries again', async () => {
    const s = scriptedFetch();
    const c = new TokenCache(opts(s.fetch, fakeClock()));
    const a = c.get();
    const b = c.get();
    s.fail();
    await expect(a).rejects.toThrow('boom');
    await expect(b).rejects.toThrow('boom');
    const again = c.get();
    expect(s.pending()).toBe(1);
    s.answer();
    expect(await again).toBe('tok-1');
  });
});
