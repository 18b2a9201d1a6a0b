// The console over a sharded keyspace (`redis.shards: 3` on one Redis, as allowed for tests):
// session pages run through every shard, the IP page (session and history, each IP's history in
// its shard) and search find an IP in its shard, and the queue page counts every shard's jobs;
// `resync` re-pushes the sessions of every shard.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyKeys } from '../../../src/history/recorder.js';
import { runResync } from '../../../src/cli/resync.js';
import type { Config } from '../../../src/config/schema.js';
import { ipKey } from '../../../src/redis/keys.js';
import { systemClock } from '../../../src/types.js';
import { shardsOf } from '../../../src/redis/shards.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { accounting, e2eConfig, startBridge, startSim, vpnLine, waitFor, type Bridge, type SimHandle } from '../e2e/harness.js';
import { consoleOverrides, VIEWER_TOKEN } from './fixture.js';

let redis: TestRedis;
let jims: SimHandle;
let bridge: Bridge;
let base: string;
let cfg: Config;
const h = { authorization: `Bearer ${VIEWER_TOKEN}` };
const ips = Array.from({ length: 12 }, (_, i) => `198.51.100.${20 + i}`);

beforeAll(async () => {
  redis = await startRedis();
  jims = await startSim();
  cfg = e2eConfig(redis, jims.port, {
    ...(await consoleOverrides()),
    redis: { url: redis.url, keyPrefix: redis.keyPrefix, shards: 3 },
  });
  bridge = await startBridge(cfg);
  base = bridge.opsUrl();
  await bridge.send(ips.map((ip, i) => vpnLine({ kind: 'up', user: `user${i}`, ip })));
  await waitFor(async () => (await accounting(bridge.metrics)).delivered >= ips.length, { what: 'every push' });
});

afterAll(async () => {
  await bridge?.stop();
  await jims?.sim.close();
  await redis?.stop();
});

const get = async <T>(path: string) => (await (await fetch(`${base}/console/api/${path}`, { headers: h })).json()) as T;
type Page = { sessions: { ip: string; user: string }[]; total: number; nextCursor: number | null };

describe('console with redis.shards 3', () => {
  it('pages through the sessions of every shard', async () => {
    const shards = shardsOf(redis.keyPrefix, 3);
    expect(new Set(ips.map((ip) => shards.of(ipKey(ip)))).size).toBe(3);
    const seen: string[] = [];
    let cursor: number | null = 0;
    while (cursor !== null) {
      const page: Page = await get<Page>(`sessions?limit=5&cursor=${cursor}`);
      expect(page.total).toBe(ips.length);
      seen.push(...page.sessions.map((s) => s.ip));
      cursor = page.nextCursor;
    }
    expect(seen.sort()).toEqual([...ips].sort());
  });

  it('finds an IP and a user in their shard, and counts every shard in the queue page', async () => {
    const shards = shardsOf(redis.keyPrefix, 3);
    for (const [i, ip] of ips.entries()) {
      expect((await get<{ session: { user: string } | null }>(`ip/${ip}`)).session?.user).toBe(`user${i}`);
      await waitFor(async () => (await get<{ history: unknown[] }>(`ip/${ip}`)).history.length >= 3, { what: `${ip} history` });
      expect(historyKeys(shards).ip(ip)).toBe(`${shards.keyspaceOf(ipKey(ip)).tag}:hl:${ipKey(ip)}`);
      expect((await get<Page>(`sessions?q=${ip}&field=ip`)).sessions.map((s) => s.user)).toEqual([`user${i}`]);
    }
    expect((await get<Page>('sessions?q=user1&field=user')).sessions.map((s) => s.user).sort()).toEqual([
      'user1',
      'user10',
      'user11',
    ]);
    const q = await get<{ stats: { completed: number; failed: number } }>('queue');
    expect(q.stats.failed).toBe(0);
    expect(q.stats.completed).toBeGreaterThan(0);
    expect(await bridge.metric('ptim_sessions_active')).toBe(ips.length);
  });

  it('resync re-pushes the sessions of every shard after JIMS lost its table', async () => {
    jims.sim.reset();
    let text = '';
    const out = { write: (t: string) => ((text += t), true) } as unknown as NodeJS.WritableStream;
    const quiet = { write: () => true } as unknown as NodeJS.WritableStream;
    expect(await runResync(cfg, out, quiet, { rate: 1000 }, { clock: systemClock })).toBe(0);
    expect(text).toMatch(/^resync: 12 session\(s\) re-pushed, 0 ended meanwhile, 0 error\(s\)/);
    await waitFor(() => Object.keys(jims.sim.identities()).length === ips.length, {
      what: 'the table restored',
      timeoutMs: 20_000,
    });
  });
});
