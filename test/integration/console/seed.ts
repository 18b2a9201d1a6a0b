// Writes sessions straight into Redis with the keys and fields the session script writes, so the
// console's paging and search can be tested (and benchmarked) on many sessions without sending
// each one through the bridge.
import type { Redis } from 'ioredis';
import { ipKey, keyspace } from '../../../src/redis/keys.js';

export const seededIp = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
export const seededUser = (i: number) => `user${i}`;
/** Firewalls fw-a … fw-d in turn; `fw-rare` for every 10,000th session. */
export const seededFirewall = (i: number) => (i % 10_000 === 9_999 ? 'fw-rare' : `fw-${'abcd'[i % 4]}`);

export async function seedSessions(redis: Redis, keyPrefix: string, n: number, start = 1_700_000_000_000): Promise<void> {
  const ks = keyspace(keyPrefix);
  for (let base = 0; base < n; base += 5000) {
    const p = redis.pipeline();
    for (let i = base; i < Math.min(n, base + 5000); i++) {
      const ip = seededIp(i);
      const k = ipKey(ip);
      const at = String(start + i * 1000);
      p.hset(ks.session(k), {
        ip,
        user: seededUser(i),
        domain: 'example.com',
        firewall: seededFirewall(i),
        vpn: 'ra-vpn',
        connectedAt: at,
        lastUpAt: at,
        lastEventAt: at,
      });
      p.zadd(ks.sessionIndex, at, k);
      p.hset(ks.seqs, k, '1');
    }
    await p.exec();
  }
}
