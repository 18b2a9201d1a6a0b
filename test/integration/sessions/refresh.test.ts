// The periodic refresh on a real Redis with a manual clock (its waits advance the clock, nothing
// sleeps): every active session is re-pushed once per interval, spread evenly over it, through the
// outbox with the IP's next seq; the idle expiry is not moved by it.
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { ipKey, keyspace } from '../../../src/redis/keys.js';
import { runSessionScript } from '../../../src/sessions/script.js';
import { createSweeper } from '../../../src/sessions/sweeper.js';
import { systemClock } from '../../../src/types.js';
import { waitFor } from '../../helpers/wait.js';
import { line, T0 } from '../../unit/sessions/table.js';
import { readOutbox, useRedis } from './redis-state.js';

const db = useRedis();
const INTERVAL_SECS = 20;
const cfg = { ...defaultConfig().sessions, sessionIdleSecs: 3600, refreshIntervalSecs: INTERVAL_SECS };
const IPS = Array.from({ length: 20 }, (_, i) => `192.0.2.${i + 1}`);

describe('periodic refresh', () => {
  it('re-pushes every session once per interval, evenly spread, without touching its idle expiry', async () => {
    const prefix = `${db.server.keyPrefix}refresh`;
    for (const ip of IPS) await runSessionScript(db.redis, prefix, ipKey(ip), line('up', { ip, receivedAt: T0 }), cfg, T0);
    let now = T0 + 1000;
    const metrics = createMetrics();
    const sweeper = createSweeper({
      redis: db.redis,
      cfg,
      keyPrefix: prefix,
      metrics,
      logger: silentLogger,
      clock: { now: () => now },
      sleep: async (ms) => void (now += ms),
    });
    const first = now;
    expect(await sweeper.refresher!.refreshOnce()).toEqual({ scanned: 20, pushed: 20, skipped: 0, errors: 0 });
    now = first + INTERVAL_SECS * 1000;
    expect((await sweeper.refresher!.refreshOnce()).pushed).toBe(20);

    const refreshes = (await readOutbox(db.redis, prefix)).filter((e) => e.event.reason === 'refresh');
    expect(refreshes).toHaveLength(40);
    expect(refreshes.every((e) => e.event.kind === 'rekey' && e.event.seq >= 2)).toBe(true);
    // Spread: 20 sessions over 20 s is one a second, never a burst.
    const times = refreshes.slice(0, 20).map((e) => e.event.at);
    expect(times).toEqual(times.map((_, i) => first + i * 1000));
    // Each session again one interval later: JIMS's logoff timer is re-armed every interval.
    for (const ip of IPS) {
      const mine = refreshes.filter((e) => e.event.ip === ip).map((e) => e.event.at);
      expect(mine[1]! - mine[0]!).toBe(INTERVAL_SECS * 1000);
    }
    expect((await metrics.refreshes.get()).values[0]?.value).toBe(40);
    // The idle expiry still counts from the last UP: a lost DOWN ends the mapping at sessionIdleSecs.
    expect(Number(await db.redis.zscore(keyspace(prefix).sessionIndex, ipKey(IPS[0]!)))).toBe(T0);
  });

  it('runs in the sweeper from start() and stop() ends it at once, mid-interval', async () => {
    const prefix = `${db.server.keyPrefix}loop`;
    for (const ip of IPS.slice(0, 3))
      await runSessionScript(db.redis, prefix, ipKey(ip), line('up', { ip, receivedAt: T0 }), cfg, T0);
    const metrics = createMetrics();
    const real = { ...cfg, refreshIntervalSecs: 30 };
    const sweeper = createSweeper({
      redis: db.redis,
      cfg: real,
      keyPrefix: prefix,
      metrics,
      logger: silentLogger,
      clock: systemClock,
    });
    sweeper.start();
    const refreshed = async () => (await metrics.refreshes.get()).values[0]?.value ?? 0;
    // 3 sessions over 30 s: the first at once, the next 10 s later.
    await waitFor(async () => (await refreshed()) >= 1, { what: 'the first refresh' });
    // stop() wakes the wait for the next session instead of waiting it out.
    const stopping = performance.now();
    await sweeper.stop();
    expect(performance.now() - stopping).toBeLessThan(5000);
    expect(await refreshed()).toBe(1);
  });

  it('is off by default', () => {
    const sweeper = createSweeper({
      redis: db.redis,
      cfg: defaultConfig().sessions,
      keyPrefix: 'x',
      metrics: createMetrics(),
      logger: silentLogger,
      clock: { now: () => T0 },
    });
    expect(sweeper.refresher).toBeUndefined();
  });
});
