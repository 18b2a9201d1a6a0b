// Throughput of the session engine against a private local redis-server: VPN events submitted,
// applied through the atomic script (state + outbox) and drained. Prints events/s per batch size,
// and the script's Redis time per event (INFO commandstats: EVALSHA execution, the commands it
// runs included): the Redis side of the per-event cost, apart from the client's.
// Run: node --import tsx bench/sessions.ts   (EVENTS=20000 IPS=2000 to change the mix)
import { Redis } from 'ioredis';
import { defaultConfig } from '../src/config/schema.js';
import { silentLogger } from '../src/log.js';
import { createMetrics } from '../src/ops/metrics.js';
import { createSessionEngine } from '../src/sessions/engine.js';
import type { VpnEvent } from '../src/types.js';
import { startRedis } from '../test/helpers/redis.js';

const EVENTS = Number(process.env.EVENTS ?? 20000);
const IPS = Number(process.env.IPS ?? 2000);

const server = await startRedis();
const redis = new Redis(server.url);
/** Microseconds Redis has spent executing EVALSHA calls so far. */
const scriptMicros = async () => Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
try {
  for (const batchSize of [1, 10, 100, 500]) {
    const keyPrefix = `${server.keyPrefix}b${batchSize}`;
    let now = 1_700_000_000_000;
    const engine = createSessionEngine({
      redis,
      cfg: { ...defaultConfig().sessions, bufferMaxEvents: EVENTS },
      keyPrefix,
      metrics: createMetrics(),
      logger: silentLogger,
      clock: { now: () => now },
      batchSize,
    });
    const kinds: VpnEvent['kind'][] = ['up', 'up', 'rekey-signal', 'down'];
    const micros = await scriptMicros();
    const start = process.hrtime.bigint();
    for (let i = 0; i < EVENTS; i++) {
      const n = i % IPS;
      now += 10;
      engine.submit(
        {
          kind: kinds[Math.floor(i / IPS) % kinds.length] ?? 'up',
          user: `user${n}`,
          domain: 'example.com',
          ips: [`2001:db8::${n.toString(16)}`],
          firewall: 'srx-a',
          patternId: 'bench',
          receivedAt: now,
        },
        `c${i}`,
      );
    }
    await engine.drain();
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    const perEvent = ((await scriptMicros()) - micros) / EVENTS;
    await engine.close();
    const outbox = await redis.xlen(`{${keyPrefix}}:outbox`);
    console.log(
      `batch ${String(batchSize).padStart(3)}: ${Math.round(EVENTS / secs).toLocaleString('en-US')} events/s, script ${perEvent.toFixed(1)} µs of Redis time per event (${EVENTS} events, ${IPS} IPs, ${outbox} outbox entries)`,
    );
  }
} finally {
  redis.disconnect();
  await server.stop();
}
