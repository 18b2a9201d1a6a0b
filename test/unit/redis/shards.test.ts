// The keyspace in shards: one shard keeps the exact key names of an unsharded deployment (no
// migration); several shards get hash tags in separate parts of the Cluster slot range; every IP
// maps to one shard, always the same, and the engine front sends each IP of an event to it.
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/ops/metrics.js';
import { ipKey, keyspace } from '../../../src/redis/keys.js';
import { CLUSTER_SLOTS, shardIndex, shardsOf, slotOf } from '../../../src/redis/shards.js';
import type { SessionEngine } from '../../../src/sessions/engine.js';
import { ActiveSessions, shardedEngine, shardQueueConfig, splitByShard } from '../../../src/shards.js';
import type { VpnEvent } from '../../../src/types.js';

const event = (ips: string[], user = 'alice'): VpnEvent => ({
  kind: 'up',
  ips,
  user,
  domain: 'corp',
  firewall: 'fw1',
  patternId: 'test',
  receivedAt: 1,
});

describe('shard names', () => {
  it('one shard keeps every key name of an unsharded deployment', () => {
    const s = shardsOf('ptim', 1);
    expect(s.prefixes).toEqual(['ptim']);
    const k = ipKey('10.0.0.1');
    const ks = s.keyspaceOf(k);
    expect(ks.tag).toBe('{ptim}');
    expect([ks.session(k), ks.tunnels(k), ks.sessionIndex, ks.seqs, ks.outbox, ks.delivered, ks.attempted]).toEqual([
      '{ptim}:s:10.0.0.1',
      '{ptim}:t:10.0.0.1',
      '{ptim}:sessions',
      '{ptim}:seq',
      '{ptim}:outbox',
      '{ptim}:delivered',
      '{ptim}:attempted',
    ]);
    expect([ks.applied('src'), ks.lock(k), ks.queueName]).toEqual(['{ptim}:applied:src', '{ptim}:lock:10.0.0.1', 'push']);
    expect(s.of(k)).toBe(0);
  });

  it('puts shard i of n in the i-th n-th of the slot range, the same names every time', () => {
    for (const n of [2, 3, 5, 16]) {
      const s = shardsOf('ptim', n);
      expect(new Set(s.prefixes).size).toBe(n);
      s.prefixes.forEach((p, i) => {
        expect(p).toMatch(new RegExp(`^ptim-${i}-\\d+$`));
        const slot = slotOf(keyspace(p).tag);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((i * CLUSTER_SLOTS) / n));
        expect(slot).toBeLessThan(Math.floor(((i + 1) * CLUSTER_SLOTS) / n));
      });
      expect(shardsOf('ptim', n).prefixes).toEqual(s.prefixes);
    }
  });

  it('computes Redis Cluster slots (CRC16 of the hash tag)', () => {
    // Values from CLUSTER KEYSLOT.
    expect(slotOf('{ptim}:outbox')).toBe(slotOf('ptim'));
    expect(slotOf('foo')).toBe(12182);
    expect(slotOf('{user1000}.following')).toBe(slotOf('user1000'));
  });
});

describe('IP → shard', () => {
  it('is a stable hash of the session key: pinned values, whatever the IP text', () => {
    expect(shardIndex(ipKey('2001:DB8::1'), 3)).toBe(shardIndex(ipKey('2001:db8:0:0::1'), 3));
    // Pinned: a change of the hash would move every session of a running deployment.
    expect(shardIndex('10.0.0.1', 3)).toBe(2);
    expect(shardIndex('2001_db8__1', 3)).toBe(2);
  });

  it('spreads IPs evenly', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[shardIndex(ipKey(`10.${(i >> 8) & 255}.${i & 255}.7`), 3)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });

  it('splits an event by shard; a non-IP goes to shard 0, where it is counted', () => {
    const s = shardsOf('ptim', 3);
    const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', 'not-an-ip'];
    const parts = splitByShard(s, '', event(ips));
    const back = [...parts.values()].flatMap((e) => e.ips).sort();
    expect(back).toEqual([...ips].sort());
    for (const [shard, e] of parts) {
      expect(e.user).toBe('alice');
      for (const ip of e.ips) expect(ip === 'not-an-ip' ? 0 : s.of(ipKey(ip))).toBe(shard);
    }
  });
});

describe('sharded engine front', () => {
  function recorder(): SessionEngine & { got: string[]; release(): void } {
    const got: string[] = [];
    let release = () => {};
    const pending = new Promise<void>((r) => (release = r));
    return {
      got,
      release: () => release(),
      submit: (e) => got.push(...e.ips),
      drain: () => pending,
      ready: () => true,
      close: async () => {},
    };
  }

  it('routes each IP to its shard and drains only when every shard has', async () => {
    const s = shardsOf('ptim', 3);
    const engines = [recorder(), recorder(), recorder()];
    const front = shardedEngine(s, '', (p) => engines[s.prefixes.indexOf(p)]!, new ActiveSessions(createMetrics(), s));
    const ips = Array.from({ length: 30 }, (_, i) => `10.1.0.${i}`);
    for (const ip of ips) front.submit(event([ip]), 'c');
    engines.forEach((e, i) => {
      expect(e.got.length).toBeGreaterThan(0);
      for (const ip of e.got) expect(s.of(ipKey(ip))).toBe(i);
    });
    let drained = false;
    const d = front.drain().then(() => (drained = true));
    engines[0]!.release();
    engines[1]!.release();
    await Promise.resolve();
    expect(drained).toBe(false);
    engines[2]!.release();
    await d;
    expect(drained).toBe(true);
  });

  it('one shard is the engine itself; the gauge is the sum of the shards', async () => {
    const one = shardsOf('ptim', 1);
    const e = recorder();
    expect(shardedEngine(one, '', () => e, new ActiveSessions(createMetrics(), one))).toBe(e);
    const metrics = createMetrics();
    const active = new ActiveSessions(metrics, shardsOf('ptim', 3));
    active.setter(0)(5);
    active.setter(2)(7);
    active.setter(0)(4);
    expect((await metrics.sessionsActive.get()).values[0]?.value).toBe(11);
    expect(shardQueueConfig({ concurrency: 32 }, shardsOf('ptim', 3)).concurrency).toBe(11);
    expect(shardQueueConfig({ concurrency: 32 }, one).concurrency).toBe(32);
  });
});
