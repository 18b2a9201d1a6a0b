// Redis memory per active session and per ended IP, on a private redis-server per size: N UPs
// through the real session script (in calls of 1,000 inputs), then N DOWNs, then the pushes marked
// delivered and one pruning pass. Prints used_memory deltas (INFO memory) divided by N: an active
// session, an ended IP still kept (within sessions.reorderWindowMs or not yet pushed), and an
// ended IP after pruning. The outbox is emptied after each step (the relay's job in the bridge).
// Also the rate of one unthrottled `resync` pass over the active sessions (script side: rekeys
// written to the outbox; JIMS and the push workers set the end-to-end rate).
// Run: npm run bench:redis-bytes   (SIZES=10000,100000 to choose the sizes)
import { Redis } from 'ioredis';
import { defaultConfig } from '../src/config/schema.js';
import { ipKey, keyspace } from '../src/redis/keys.js';
import { createMetrics } from '../src/ops/metrics.js';
import { pruneEnded } from '../src/sessions/prune.js';
import { resyncPass } from '../src/sessions/resync.js';
import { runSessionCall, type ScriptInput } from '../src/sessions/script.js';
import type { LineInput } from '../src/sessions/model.js';
import { startRedis } from '../test/helpers/redis.js';

const SIZES = (process.env.SIZES ?? '10000,100000,1000000').split(',').map(Number);
const CALL = 1000;
const T0 = 1_700_000_000_000;
const cfg = defaultConfig().sessions;

const ipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

function line(kind: LineInput['kind'], i: number, receivedAt: number): LineInput {
  return {
    kind,
    ip: ipOf(i),
    user: `user${i}@example.com`,
    domain: 'example.com',
    firewall: 'srx1600-edge',
    vpn: 'ra-vpn',
    gateway: 'ra-gw',
    peerIp: '198.51.100.77',
    tunnelId: String(500_000 + (i % 1000)),
    receivedAt,
    correlationId: `c${i.toString(36)}`,
  };
}

/** Every IP through the real script once, CALL inputs per call; then the outbox is emptied. */
async function applyAll(redis: Redis, prefix: string, n: number, kind: LineInput['kind'], at: number): Promise<void> {
  for (let from = 0; from < n; from += CALL) {
    const inputs: ScriptInput[] = [];
    for (let i = from; i < Math.min(n, from + CALL); i++) inputs.push({ key: ipKey(ipOf(i)), input: line(kind, i, at), n: -1 });
    const replies = await runSessionCall(redis, prefix, { source: 'bench', inputs }, cfg, at);
    if (replies.some((r) => r.type !== 'applied')) throw new Error('script refused an input');
  }
  await redis.del(keyspace(prefix).outbox);
}

/** As the push workers would after delivering each IP's last seq. */
async function markDelivered(redis: Redis, prefix: string, n: number): Promise<void> {
  const ks = keyspace(prefix);
  for (let from = 0; from < n; from += CALL) {
    const keys = Array.from({ length: Math.min(CALL, n - from) }, (_, j) => ipKey(ipOf(from + j)));
    const seqs = await redis.hmget(ks.seqs, ...keys);
    const flat = keys.flatMap((k, j) => [k, seqs[j] ?? '0']);
    await redis.hset(ks.delivered, ...flat);
  }
}

async function measure(n: number) {
  const server = await startRedis();
  const redis = new Redis(server.url);
  try {
    const prefix = server.keyPrefix;
    const ks = keyspace(prefix);
    const base = await usedMemory(redis);
    const t0 = performance.now();
    await applyAll(redis, prefix, n, 'up', T0);
    const active = await usedMemory(redis);
    // `resync` over every active session, unthrottled: the session script's side of its rate.
    const r0 = performance.now();
    const clock = { now: () => performance.now() };
    const rs = await resyncPass({
      redis,
      keyPrefix: prefix,
      cfg,
      metrics: createMetrics(),
      clock,
      kind: 'resync',
      ratePerSec: 1e9,
    });
    const resyncRate = rs.pushed / ((performance.now() - r0) / 1000);
    await redis.del(ks.outbox);
    await applyAll(redis, prefix, n, 'down', T0 + 60_000);
    await markDelivered(redis, prefix, n);
    const ended = await usedMemory(redis);
    const now = T0 + 60_000 + cfg.reorderWindowMs + 1;
    const counts = await pruneEnded(redis, prefix, { reorderWindowMs: cfg.reorderWindowMs, pendingLimitMs: 86_400_000 }, now);
    const pruned = await usedMemory(redis);
    const left = await Promise.all([redis.hlen(ks.seqs), redis.hlen(ks.delivered), redis.zcard(ks.ended)]);
    const secs = (performance.now() - t0) / 1000;
    const per = (bytes: number) => ((bytes - base) / n).toFixed(1).padStart(7);
    console.log(
      `${String(n).padStart(9)} | ${per(active)} B/active session | ${per(ended)} B/ended IP kept | ` +
        `${per(pruned)} B/ended IP after pruning (${counts.pruned} pruned; left: seq ${left[0]}, delivered ${left[1]}, ended ${left[2]}) | ` +
        `resync ${Math.round(resyncRate)} sessions/s | ${secs.toFixed(0)} s`,
    );
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

console.log('      IPs | Redis used_memory delta per IP (INFO memory) after N UPs, N DOWNs (pushed), one pruning pass');
for (const n of SIZES) await measure(n);
