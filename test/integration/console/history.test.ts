// The per-IP history through the assembled bridge: a line, its session decision and its push
// are recorded under the IP, tied by one correlation id, and trimmed to maxEntriesPerIp; without
// console credentials, and maxEntriesPerIp unset, nothing is recorded.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readHistory } from '../../../src/history/read.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { accounting, e2eConfig, startBridge, startSim, vpnLine, waitFor, type Bridge, type SimHandle } from '../e2e/harness.js';

let redis: TestRedis;
let jims: SimHandle;
let bridge: Bridge;
let client: Redis;

beforeAll(async () => {
  redis = await startRedis();
  jims = await startSim();
  bridge = await startBridge(e2eConfig(redis, jims.port, { ops: { console: { history: { maxEntriesPerIp: 6 } } } }));
  client = new Redis(redis.url);
});

afterAll(async () => {
  client?.disconnect();
  await bridge?.stop();
  await jims?.sim.close();
  await redis?.stop();
});

describe('per-IP history', () => {
  it('records line → decision → push with one correlation id, newest first', async () => {
    await bridge.send([vpnLine({ kind: 'up', user: 'alice', ip: '192.0.2.50' })]);
    await waitFor(async () => (await accounting(bridge.metrics)).delivered >= 1, { what: 'the push' });
    await waitFor(async () => (await readHistory(client, redis.keyPrefix, '192.0.2.50')).length >= 3, { what: 'three entries' });
    const h = await readHistory(client, redis.keyPrefix, '192.0.2.50');
    expect(h.map((e) => e.type)).toEqual(['push', 'decision', 'line']);
    expect(new Set(h.map((e) => e.correlationId)).size).toBe(1);
    const [push, decision, line] = h;
    expect(push).toMatchObject({ outcome: 'delivered', kind: 'connect', seq: 1 });
    expect(decision).toMatchObject({ decision: 'connect', user: 'alice', emitted: ['connect'] });
    expect(line).toMatchObject({ kind: 'up', user: 'alice', transport: 'udp' });
    expect(line?.type === 'line' && line.text).toContain('IKE_VPN_UP_ALARM_USER');
  });

  it('records even with the console off, which is not served without credentials', async () => {
    const res = await fetch(`${bridge.opsUrl()}/console/`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { endpoints: string[] }).endpoints).toEqual(['/healthz', '/readyz', '/metrics']);
    expect((await fetch(`${bridge.opsUrl()}/console/api/sessions`)).status).toBe(404);
  });

  it('records nothing when the console has no credentials and maxEntriesPerIp is unset', async () => {
    const keyPrefix = `${redis.keyPrefix}off`;
    const off = await startBridge(e2eConfig(redis, jims.port, { redis: { keyPrefix } }));
    try {
      await off.send([vpnLine({ kind: 'up', user: 'carol', ip: '192.0.2.60' })]);
      await waitFor(async () => (await accounting(off.metrics)).delivered >= 1, { what: 'the push' });
    } finally {
      await off.stop(); // flushes what the history buffered
    }
    const keys = await client.keys(`{${keyPrefix}}:*`);
    expect(keys.length).toBeGreaterThan(0); // its sessions, seqs, queue …
    expect(keys.filter((k) => k.includes(':hl:'))).toEqual([]);
  });

  it('keeps at most maxEntriesPerIp entries per IP, with a TTL', async () => {
    const lines = [0, 1, 2, 3].map((i) => vpnLine({ kind: i % 2 ? 'down' : 'up', user: 'bob', ip: '192.0.2.51' }));
    for (const l of lines) {
      await bridge.send([l]);
      await bridge.applied();
    }
    await waitFor(async () => (await accounting(bridge.metrics)).settled, { what: 'pushes settled' });
    await waitFor(async () => (await readHistory(client, redis.keyPrefix, '192.0.2.51'))[0]?.type === 'push', {
      what: 'last push',
    });
    expect((await readHistory(client, redis.keyPrefix, '192.0.2.51')).length).toBe(6);
    const key = (await client.keys(`{${redis.keyPrefix}}:hl:*`)).find((k) => k.endsWith('192.0.2.51'))!;
    expect(await client.ttl(key)).toBeGreaterThan(86000);
  });
});
