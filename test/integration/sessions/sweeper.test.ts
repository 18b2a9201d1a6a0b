import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultConfig } from '../../../src/config/schema.js';
import { createLogger, silentLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { createOrderingGuard } from '../../../src/queue/ordering.js';
import { ipKey, keyspace } from '../../../src/redis/keys.js';
import { runSessionScript } from '../../../src/sessions/script.js';
import { countSessions, listSessions } from '../../../src/sessions/query.js';
import type { LineInput } from '../../../src/sessions/model.js';
import { createSweeper } from '../../../src/sessions/sweeper.js';
import { readOutbox, useRedis } from './redis-state.js';

const db = useRedis();

afterEach(() => {
  vi.useRealTimers();
});

const T0 = 1_700_000_000_000;
const IDLE_SECS = 3600;
const cfg = { ...defaultConfig().sessions, sessionIdleSecs: IDLE_SECS, sweepIntervalSecs: 30 };

const up = (ip: string, user: string, receivedAt: number): LineInput => ({
  kind: 'up',
  ip,
  user,
  domain: 'example.com',
  firewall: 'srx-a',
  receivedAt,
  correlationId: `up-${user}`,
});

async function seed(prefix: string, ...lines: LineInput[]) {
  for (const l of lines) await runSessionScript(db.redis, prefix, ipKey(l.ip), l, cfg, l.receivedAt);
}

describe('session sweeper', () => {
  it('expires idle sessions with reason expired and leaves fresh ones', async () => {
    const prefix = `${db.server.keyPrefix}a`;
    await seed(prefix, up('192.0.2.1', 'alice', T0), up('192.0.2.2', 'bob', T0 + 120_000), up('2001:db8::3', 'carol', T0 + 1));
    let now = T0 + IDLE_SECS * 1000 + 60_000;
    const metrics = createMetrics();
    const sweeper = createSweeper({
      redis: db.redis,
      cfg,
      keyPrefix: prefix,
      metrics,
      logger: silentLogger,
      clock: { now: () => now },
    });

    expect(await sweeper.sweepOnce()).toBe(2);
    const expired = (await readOutbox(db.redis, prefix)).filter((e) => e.event.kind === 'disconnect');
    expect(expired.map((e) => [e.ipKey, e.event.user, e.event.reason, e.event.seq, e.event.at])).toEqual(
      expect.arrayContaining([
        ['192.0.2.1', 'alice', 'expired', 2, now],
        ['2001_db8__3', 'carol', 'expired', 2, now],
      ]),
    );
    expect(expired).toHaveLength(2);
    expect((await listSessions(db.redis, prefix)).map((s) => s.user)).toEqual(['bob']);
    expect((await metrics.sessionsActive.get()).values[0]?.value).toBe(1);
    expect((await metrics.decisions.get()).values.find((v) => v.labels.decision === 'expired')?.value).toBe(2);

    // Nothing is expired twice.
    expect(await sweeper.sweepOnce()).toBe(0);
    now += 120_000;
    expect(await sweeper.sweepOnce()).toBe(1);
  });

  it('works through more idle sessions than one batch', async () => {
    const prefix = `${db.server.keyPrefix}m`;
    await seed(prefix, ...[1, 2, 3, 4, 5].map((n) => up(`198.51.100.${n}`, `user${n}`, T0 + n)));
    const now = T0 + IDLE_SECS * 1000 + 10;
    const sweeper = createSweeper({
      redis: db.redis,
      cfg,
      keyPrefix: prefix,
      metrics: createMetrics(),
      logger: silentLogger,
      clock: { now: () => now },
      batchSize: 2,
    });
    expect(await sweeper.sweepOnce()).toBe(5);
    expect(await listSessions(db.redis, prefix)).toEqual([]);
  });

  it('an UP that lands between the candidate read and the expiry wins', async () => {
    const prefix = `${db.server.keyPrefix}b`;
    await seed(prefix, up('192.0.2.1', 'alice', T0));
    const now = T0 + IDLE_SECS * 1000 + 1;
    // A second client whose candidate read lets a late UP in before the expiry runs.
    const racy = new Redis(db.server.url);
    const read = racy.zrangebyscore.bind(racy) as (...a: unknown[]) => Promise<string[]>;
    (racy as unknown as { zrangebyscore: unknown }).zrangebyscore = async (...args: unknown[]) => {
      const keys = await read(...args);
      await seed(prefix, up('192.0.2.1', 'alice', now - 5));
      return keys;
    };
    const metrics = createMetrics();
    const sweeper = createSweeper({
      redis: racy,
      cfg,
      keyPrefix: prefix,
      metrics,
      logger: silentLogger,
      clock: { now: () => now },
    });
    try {
      expect(await sweeper.sweepOnce()).toBe(0);
    } finally {
      racy.disconnect();
    }
    expect((await readOutbox(db.redis, prefix)).map((e) => [e.event.kind, e.event.seq])).toEqual([
      ['connect', 1],
      ['rekey', 2],
    ]);
    expect((await listSessions(db.redis, prefix)).map((s) => [s.user, s.lastUpAt])).toEqual([['alice', now - 5]]);
    expect((await metrics.decisions.get()).values.find((v) => v.labels.decision === 'expire_skipped')?.value).toBe(1);
  });

  it('start() sweeps every sweepIntervalSecs until stop()', async () => {
    const prefix = `${db.server.keyPrefix}c`;
    await seed(prefix, up('192.0.2.1', 'alice', T0), up('192.0.2.2', 'bob', T0 + 60_000));
    let now = T0 + IDLE_SECS * 1000 + 1;
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const sweeper = createSweeper({
      redis: db.redis,
      cfg,
      keyPrefix: prefix,
      metrics: createMetrics(),
      logger: silentLogger,
      clock: { now: () => now },
    });
    const disconnects = async () => (await readOutbox(db.redis, prefix)).filter((e) => e.event.kind === 'disconnect').length;
    sweeper.start();
    vi.advanceTimersByTime(cfg.sweepIntervalSecs * 1000 - 1);
    expect(await disconnects()).toBe(0);
    vi.advanceTimersByTime(1);
    await vi.waitFor(async () => expect(await disconnects()).toBe(1), { timeout: 5000, interval: 10 });
    await sweeper.stop();
    now += 120_000;
    vi.advanceTimersByTime(10 * cfg.sweepIntervalSecs * 1000);
    // A stopped sweeper schedules nothing: had a timer pass started, it would have reached Redis
    // first (one connection, in order) and this explicit pass would find bob already gone.
    expect(await sweeper.sweepOnce()).toBe(1);
    expect(await disconnects()).toBe(2);
  });
});

describe('session sweeper failures', () => {
  it('counts a failed timed sweep and a failed refresh pass as events, logged with the error', async () => {
    const prefix = `${db.server.keyPrefix}fail`;
    // The session index is not a sorted set: every read of it fails with WRONGTYPE.
    await db.redis.set(keyspace(prefix).sessionIndex, 'not a zset');
    const metrics = createMetrics();
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const sweeper = createSweeper({
      redis: db.redis,
      cfg: { ...cfg, refreshIntervalSecs: 30 },
      keyPrefix: prefix,
      metrics,
      logger,
      clock: { now: () => T0 },
    });
    const events = async (event: string) =>
      (await metrics.operationalEvents.get()).values.find((v) => v.labels.event === event)?.value ?? 0;
    sweeper.start();
    vi.advanceTimersByTime(cfg.sweepIntervalSecs * 1000);
    await vi.waitFor(async () => expect(await events('session_sweep_failed')).toBe(1), { timeout: 5000, interval: 10 });
    vi.advanceTimersByTime(cfg.sweepIntervalSecs * 1000);
    await vi.waitFor(async () => expect(await events('session_sweep_failed')).toBe(2), { timeout: 5000, interval: 10 });
    await vi.waitFor(async () => expect(await events('session_refresh_failed')).toBe(1), { timeout: 5000, interval: 10 });
    await sweeper.stop();
    const sweepLines = lines.filter((l) => l.event === 'session_sweep_failed');
    expect(sweepLines).toHaveLength(2);
    expect(sweepLines[0]).toMatchObject({
      msg: 'session sweep failed; will retry',
      err: { message: expect.stringMatching(/WRONGTYPE/) },
    });
    expect(lines.find((l) => l.event === 'session_refresh_failed')).toMatchObject({ msg: 'session refresh failed; will retry' });
  });
});

describe('pruning ended IPs', () => {
  const down = (ip: string, user: string, receivedAt: number): LineInput => ({ ...up(ip, user, receivedAt), kind: 'down' });

  it('keeps an ended IP while its last push is due or within the reorder window, then prunes it; seqs go on above the floor', async () => {
    const prefix = `${db.server.keyPrefix}prune`;
    const ks = keyspace(prefix);
    const key = ipKey('192.0.2.9');
    await seed(prefix, up('192.0.2.9', 'alice', T0), down('192.0.2.9', 'alice', T0 + 1000), up('192.0.2.10', 'bob', T0));
    let now = T0 + 2000;
    const metrics = createMetrics();
    const sweeper = createSweeper({
      redis: db.redis,
      cfg,
      keyPrefix: prefix,
      metrics,
      logger: silentLogger,
      clock: { now: () => now },
    });

    // Within the reorder window: kept (a late line from another replica is still refused).
    expect(await sweeper.pruneOnce()).toEqual({ pruned: 0, pending: 0 });
    now += cfg.reorderWindowMs;
    // Past it, but the disconnect (seq 2) is not delivered yet: kept.
    expect(await sweeper.pruneOnce()).toEqual({ pruned: 0, pending: 1 });
    await createOrderingGuard(db.redis, prefix).delivered(key, 2, 'none');
    expect(await sweeper.pruneOnce()).toEqual({ pruned: 1, pending: 0 });
    expect((await metrics.pruned.get()).values[0]?.value).toBe(1);
    expect(
      await Promise.all([db.redis.hexists(ks.seqs, key), db.redis.hexists(ks.lastAt, key), db.redis.zcard(ks.ended)]),
    ).toEqual([0, 0, 0]);
    // The active session elsewhere is untouched (index and gauge); the pruned IP's next session numbers from above its old seqs.
    expect(await countSessions(db.redis, prefix)).toBe(1);
    expect(await db.redis.hget(ks.seqs, ipKey('192.0.2.10'))).toBe('1');
    // A chain starts with its delivered mark at the floor (0 before any pruning): the guard reads it directly.
    expect(await db.redis.hget(ks.delivered, ipKey('192.0.2.10'))).toBe('0');
    await seed(prefix, up('192.0.2.9', 'carol', now));
    const events = (await readOutbox(db.redis, prefix)).filter((e) => e.ipKey === key);
    expect(events.map((e) => e.event.seq)).toEqual([1, 2, 3]);
    expect(await db.redis.hget(ks.delivered, key)).toBe('2');
    // And an old job of the pruned chain is superseded, never pushed after the new connect.
    const guard = createOrderingGuard(db.redis, prefix);
    const old = { ipKey: key, seq: 1, token: 't', ttlMs: 1000, previousJobKey: `${ks.tag}:none`, createdAt: 0 };
    expect((await guard.acquire(old, now, 0)).state).toBe('superseded');
    expect((await guard.acquire({ ...old, seq: 3 }, now, 0)).state).toBe('acquired');
  });
});
