// Login storm: 50,000 distinct users connect within 10 s (UDP over loopback, paced in bursts as a
// busy firewall flushes its log buffer) while a second sender (a C sendmmsg sender) offers 20,000
// lines/s of flow-log noise, through the whole product (bridge in its own process, private
// redis-server with AOF, JIMS simulator over HTTP). Prints what was offered, the lines lost (at the
// socket, of which in the kernel's receive queue, and at the hand-off to the matcher), the time
// from the last line until every user is in the simulator's table, latency percentiles, the
// bridge's peak RSS, and CPU per VPN event (bridge and Redis apart).
// Run: npm run bench:storm -- [--users 50000] [--secs 10] [--burst 100] [--noise 20000] [--set queue.concurrency=64 …]
import { performance } from 'node:perf_hooks';
import { vpnLine } from '../src/demo/lines.js';
import {
  blast,
  buildBlaster,
  commandsPerEvent,
  configOverrides,
  matchDeliveries,
  mb,
  ms,
  noiseLine,
  numberFlag,
  percentiles,
  startStack,
  udpSender,
} from './lib.js';

const USERS = numberFlag('users', 50_000);
const SECS = numberFlag('secs', 10);
const BURST = numberFlag('burst', 100);
const NOISE = numberFlag('noise', 20_000);
/** The target is 15 s after the last line; wait longer to see how far off a miss is. */
const DRAIN_TIMEOUT_MS = 120_000;

/** 50,000 distinct client IPs need more than the IPv4 documentation ranges: 2001:db8::/32. */
const ipOf = (i: number) => `2001:db8::1:${i.toString(16)}`;

await buildBlaster();
const overrides = configOverrides();
const stack = await startStack(overrides);
const sender = await udpSender(stack.syslogPort);
const lines = Array.from({ length: USERS }, (_, i) =>
  vpnLine({ kind: 'up', user: `storm${i}@example.com`, ip: ipOf(i), tunnelId: 600000 + i }),
);
const interval = (SECS * 1000 * BURST) / USERS;

console.log(
  `login storm: ${USERS} users in ${SECS} s, bursts of ${BURST} every ${interval.toFixed(1)} ms over UDP, plus ${NOISE} lines/s of noise from a C sender; bridge overrides ${JSON.stringify(overrides)}`,
);
const before = { bridge: (await stack.bridgeStats()).cpuMicros, redis: await stack.redisCpuMicros() };
const commandsBefore = await stack.redisCommandStats();
const inputBefore = await stack.redisInputBytes();
const noise =
  NOISE > 0
    ? blast(
        Array.from({ length: 1000 }, (_, i) => noiseLine(i)),
        NOISE,
        SECS,
        [stack.syslogPort],
      )
    : Promise.resolve({ sent: 0, secs: 0, failed: 0, rate: 0 });
const t0 = performance.now();
for (let i = 0; i < USERS;) {
  const due = t0 + (i / BURST) * interval;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  for (const end = Math.min(USERS, i + BURST); i < end; i++) sender.send(lines[i]!, { ip: ipOf(i), op: 'logon' });
}
const lastSend = performance.now();
const sendSecs = (lastSend - t0) / 1000;
const atLast = (await stack.bridgeStats()).counters;
const pushedAtLast = stack.sim.counters().pushes;

// Every user in the simulator's table (polled; the table is the product's outcome).
const deadline = lastSend + DRAIN_TIMEOUT_MS;
let allInAt: number | undefined;
while (performance.now() < deadline) {
  if (Object.keys(stack.sim.identities()).length >= USERS) {
    allInAt = performance.now();
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
const offeredNoise = await noise;
const after = { bridge: (await stack.bridgeStats()).cpuMicros, redis: await stack.redisCpuMicros() };
const commandsAfter = await stack.redisCommandStats();
const inputAfter = await stack.redisInputBytes();
const d = matchDeliveries(sender.sent, stack.sim);
const bridge = await stack.bridgeStats();
const redisMem = await stack.redisMemory();
const p = percentiles(d.latencies);
const received = bridge.counters.received ?? 0;
const offered = sender.count() + offeredNoise.sent;

console.log(
  `  offered: ${sender.count()} VPN lines in ${sendSecs.toFixed(1)} s (${Math.round(sender.count() / sendSecs)}/s) + ${offeredNoise.sent} noise lines in ${offeredNoise.secs.toFixed(1)} s (${Math.round(offeredNoise.rate)}/s, ${offeredNoise.failed} refused by sendmmsg)`,
);
console.log(
  `  lost: ${offered - received} of ${offered} at the socket (kernel receive-queue drops ${bridge.counters.kernelDrops ?? 0}); hand-off full ${bridge.dropped.queue_full ?? 0}; dropped ${JSON.stringify(bridge.dropped)} (target 0)`,
);
console.log(
  `  all ${USERS} users in the simulator's table: ${allInAt === undefined ? `NOT within ${DRAIN_TIMEOUT_MS / 1000} s (${Object.keys(stack.sim.identities()).length} in)` : `${ms(allInAt - lastSend)} after the last line`} (target ≤ 15000 ms)`,
);
console.log(
  `  delivered ${d.matched}/${d.expected}, unexpected pushes ${d.unexpected}; at the last line: received ${atLast.received}, in the outbox ${atLast.identityEvents}, relayed ${atLast.relayed}, accepted by JIMS ${pushedAtLast}`,
);
console.log(`  latency send → JIMS receipt: p50 ${ms(p.p50)}, p90 ${ms(p.p90)}, p99 ${ms(p.p99)}, max ${ms(p.max)}`);
console.log(
  `  bridge process (all threads): peak rss ${mb(bridge.peakRss)} (target ≤ 200 MB), peak heap used ${mb(bridge.peakHeapUsed)}; start-up peak rss ${mb(bridge.startupPeakRss)}`,
);
console.log(
  `  CPU per VPN event (noise included): bridge ${((after.bridge - before.bridge) / 1000 / USERS).toFixed(3)} ms, redis ${((after.redis - before.redis) / 1000 / USERS).toFixed(3)} ms`,
);
console.log(
  `  redis ${commandsPerEvent(commandsBefore, commandsAfter, USERS)}; ${((inputAfter - inputBefore) / USERS).toFixed(0)} bytes in per event`,
);
console.log(
  `  redis: used_memory ${mb(redisMem.used)} (peak ${mb(redisMem.peak)}); bridge counters ${JSON.stringify(bridge.counters)}`,
);
await sender.close();
await stack.stop();
process.exit(0);
