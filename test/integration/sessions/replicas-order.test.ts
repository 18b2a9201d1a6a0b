// Two ingest replicas (two real engines, each with its own connection and source) on one real
// Redis: an IP's lines are applied in the order the bridge received them, whichever replica's
// batch lands first. The late line is refused and counted; the final state is the newer line's.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/log.js';
import { createMetrics, type Metrics } from '../../../src/ops/metrics.js';
import { ipKey, keyspace } from '../../../src/redis/keys.js';
import { createSessionEngine, type SessionEngine } from '../../../src/sessions/engine.js';
import type { VpnEvent } from '../../../src/types.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { readOutbox } from './redis-state.js';

let server: TestRedis;
const clients: Redis[] = [];
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
});

const T0 = 1_700_000_000_000;
const IP = '192.0.2.77';

function replica(prefix: string): { engine: SessionEngine; metrics: Metrics } {
  const redis = new Redis(server.url);
  clients.push(redis);
  const metrics = createMetrics();
  const cfg = defaultConfig().sessions;
  const engine = createSessionEngine({
    redis,
    cfg,
    keyPrefix: prefix,
    metrics,
    logger: silentLogger,
    clock: { now: () => T0 + 60_000 },
  });
  return { engine, metrics };
}

const vpn = (kind: VpnEvent['kind'], receivedAt: number): VpnEvent => ({
  kind,
  user: 'alice',
  domain: 'example.com',
  ips: [IP],
  firewall: 'srx-a',
  vpn: 'ra-vpn',
  patternId: 'test',
  receivedAt,
});

async function outOfOrder(m: Metrics): Promise<number> {
  return (await m.outOfOrder.get()).values[0]?.value ?? 0;
}

describe('order across ingest replicas', () => {
  it('UP on replica A then DOWN on replica B, B lands first: the user ends logged off', async () => {
    const prefix = `${server.keyPrefix}ab`;
    const a = replica(prefix);
    const b = replica(prefix);
    b.engine.submit(vpn('down', T0 + 500), 'down-b');
    await b.engine.drain();
    a.engine.submit(vpn('up', T0), 'up-a');
    await a.engine.drain();

    expect(await outOfOrder(a.metrics)).toBe(1);
    const redis = clients[0]!;
    expect(await redis.exists(keyspace(prefix).session(ipKey(IP)))).toBe(0);
    // JIMS hears the (orphan) DOWN only, never a connect after it.
    expect((await readOutbox(redis, prefix)).map((e) => e.event.kind)).toEqual(['disconnect']);
    await Promise.all([a.engine.close(), b.engine.close()]);
  });

  it('DOWN on replica A then a new UP on replica B, B lands first: the user stays mapped', async () => {
    const prefix = `${server.keyPrefix}ba`;
    const a = replica(prefix);
    const b = replica(prefix);
    a.engine.submit(vpn('up', T0), 'up-1');
    await a.engine.drain();
    b.engine.submit(vpn('up', T0 + 20_000), 'up-2-b');
    await b.engine.drain();
    a.engine.submit(vpn('down', T0 + 19_000), 'down-a');
    await a.engine.drain();

    expect(await outOfOrder(a.metrics)).toBe(1);
    const redis = clients[2]!;
    expect(await redis.hget(keyspace(prefix).session(ipKey(IP)), 'user')).toBe('alice');
    expect((await readOutbox(redis, prefix)).map((e) => e.event.kind)).toEqual(['connect', 'rekey']);
    await Promise.all([a.engine.close(), b.engine.close()]);
  });
});
