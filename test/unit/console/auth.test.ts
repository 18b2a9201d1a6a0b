import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runHashPassword } from '../../../src/cli/hash-password.js';
import { configSchema } from '../../../src/config/schema.js';
import {
  hashPassword,
  hashToken,
  newToken,
  parsePasswordHash,
  tokenMatches,
  verifyPassword,
} from '../../../src/console/password.js';
import { createSessionStore } from '../../../src/console/sessions.js';
import { createLoginThrottle } from '../../../src/console/throttle.js';

const FAST = { N: 1024, r: 8, p: 1 };

describe('console passwords', () => {
  it('verifies the right password only, and a hash the config schema accepts', async () => {
    const h = await hashPassword('correct horse battery', FAST);
    expect(await verifyPassword('correct horse battery', h)).toBe(true);
    expect(await verifyPassword('correct horse batterY', h)).toBe(false);
    expect(await verifyPassword('correct horse battery', undefined)).toBe(false);
    expect(parsePasswordHash(h)?.N).toBe(1024);
    const cfg = configSchema.parse({ ops: { console: { users: [{ name: 'ops', role: 'admin', passwordHash: h }] } } });
    expect(cfg.ops.console.users[0]?.role).toBe('admin');
  });

  it('refuses malformed and hostile-cost hashes', async () => {
    expect(parsePasswordHash('scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==')).toBeUndefined();
    expect(parsePasswordHash(`scrypt$${2 ** 24}$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==`)).toBeUndefined();
    expect(await verifyPassword('x', 'plain-text-password')).toBe(false);
    expect(() =>
      configSchema.parse({ ops: { console: { users: [{ name: 'a', role: 'admin', passwordHash: 'hunter2' }] } } }),
    ).toThrow(/hash-password/);
  });

  it('matches bearer tokens against their stored hash', () => {
    const t = newToken();
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokenMatches(t, hashToken(t))).toBe(true);
    expect(tokenMatches(`${t}x`, hashToken(t))).toBe(false);
  });
});

describe('login throttle', () => {
  it('refuses after maxFailures per address or per user name until the window passes', () => {
    let now = 1_000_000;
    const th = createLoginThrottle({ maxFailures: 3, windowMs: 60_000, clock: { now: () => now } });
    for (let i = 0; i < 3; i++) {
      expect(th.retryAfterMs('10.0.0.1', 'alice')).toBe(0);
      th.failed('10.0.0.1', 'alice');
      now += 1000;
    }
    expect(th.retryAfterMs('10.0.0.1', 'bob')).toBe(57_000);
    expect(th.retryAfterMs('10.0.0.2', 'ALICE')).toBe(57_000);
    expect(th.retryAfterMs('10.0.0.2', 'bob')).toBe(0);
    now += 57_000;
    expect(th.retryAfterMs('10.0.0.1', 'alice')).toBe(0);
  });
});

describe('console sessions', () => {
  it('expire after their lifetime and are gone after logout', () => {
    let now = 0;
    const store = createSessionStore({ ttlMs: 1000, clock: { now: () => now } });
    const a = store.create('alice', 'viewer');
    expect(store.get(a.id)?.user).toBe('alice');
    expect(store.get('forged')).toBeUndefined();
    now = 1000;
    expect(store.get(a.id)).toBeUndefined();
    const b = store.create('bob', 'admin');
    store.destroy(b.id);
    expect(store.get(b.id)).toBeUndefined();
  });
});

describe('hash-password command', () => {
  const run = async (opts: { token?: boolean }, stdin: string) => {
    let out = '';
    let err = '';
    const sink = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(String(c)), cb()) });
    const code = await runHashPassword(
      opts,
      Readable.from([stdin]),
      sink((s) => (out += s)),
      sink((s) => (err += s)),
    );
    return { code, out, err };
  };

  it('prints a scrypt hash of the password read from standard input', async () => {
    const r = await run({}, 'a long enough password\n');
    expect(r.code).toBe(0);
    expect(await verifyPassword('a long enough password', r.out.trim())).toBe(true);
  });

  it('refuses a short password and prints nothing on standard output', async () => {
    const r = await run({}, 'short\n');
    expect(r).toMatchObject({ code: 2, out: '' });
    expect(r.err).toMatch(/at least 12 characters/);
  });

  it('makes a bearer token and the hash that matches it', async () => {
    const r = await run({ token: true }, '');
    const [, token, hash] = /^token: (\S+)\ntokenHash: (\S+)\n$/.exec(r.out) ?? [];
    expect(tokenMatches(token!, hash!)).toBe(true);
  });
});
