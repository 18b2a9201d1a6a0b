// Login storm: 10,000 distinct users connect within 10 s (UDP over loopback, paced in bursts as a
// busy firewall flushes its log buffer), through the whole product (bridge in its own process,
// private redis-server with AOF, JIMS simulator over HTTP). Prints the drain time (last line sent
// → last push accepted by the simulator), latency percentiles, delivery (UDP loss at the socket
// shown apart, from ptim_syslog_received_total vs sent), bridge peak RSS/heap and Redis memory.
// Run: node --import tsx bench/login-storm.ts [--users 10000] [--secs 10] [--burst 100] [--set queue.concurrency=64 …]
import { performance } from 'node:perf_hooks';
import { vpnLine } from '../src/demo/lines.js';
import {
  configOverrides,
  matchDeliveries,
  mb,
  ms,
  numberFlag,
  percentiles,
  startStack,
  udpSender,
  waitForPushes,
} from './lib.js';

const USERS = numberFlag('users', 10_000);
const SECS = numberFlag('secs', 10);
const BURST = numberFlag('burst', 100);
/** The target is 15 s after the last line; wait a little longer to see how far off a miss is. */
const DRAIN_TIMEOUT_MS = 60_000;

/** 10,000 distinct client IPs need more than the IPv4 documentation ranges: 2001:db8::/32. */
const ipOf = (i: number) => `2001:db8::1:${i.toString(16)}`;

const overrides = configOverrides();
const stack = await startStack(overrides);
const sender = await udpSender(stack.syslogPort);
const lines = Array.from({ length: USERS }, (_, i) =>
  vpnLine({ kind: 'up', user: `storm${i}@example.com`, ip: ipOf(i), tunnelId: 600000 + i }),
);
const interval = (SECS * 1000 * BURST) / USERS;

console.log(
  `login storm: ${USERS} users in ${SECS} s, bursts of ${BURST} every ${interval.toFixed(0)} ms over UDP; bridge overrides ${JSON.stringify(overrides)}`,
);
const t0 = performance.now();
for (let i = 0; i < USERS;) {
  const due = t0 + (i / BURST) * interval;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  for (const end = Math.min(USERS, i + BURST); i < end; i++) sender.send(lines[i]!, { ip: ipOf(i), op: 'logon' });
}
const lastSend = performance.now();
const sendSecs = (lastSend - t0) / 1000;
// Where a backlog sits when the last line leaves: ingest, session engine (outbox), relay or push workers.
const atLast = (await stack.bridgeStats()).counters;
const pushedAtLast = stack.sim.counters().pushes;
// Counted before waiting: anything the socket has not delivered by the time all pushes are in is lost.
const allIn = await waitForPushes(stack.sim, USERS, DRAIN_TIMEOUT_MS);
const d = matchDeliveries(sender.sent, stack.sim);
const bridge = await stack.bridgeStats();
const redisMem = await stack.redisMemory();
const p = percentiles(d.latencies);
const received = bridge.counters.received ?? 0;

console.log(
  `  sent ${sender.count()} datagrams in ${sendSecs.toFixed(1)} s; bridge received ${received} (UDP loss at the socket: ${sender.count() - received}), dropped ${JSON.stringify(bridge.dropped)}`,
);
console.log(
  `  delivered ${d.matched}/${d.expected} (loss ${d.expected - d.matched}${allIn ? '' : `, gave up after ${DRAIN_TIMEOUT_MS / 1000} s`}), unexpected pushes ${d.unexpected}`,
);
console.log(
  `  drain: last push accepted ${ms(d.lastReceipt - lastSend)} after the last line (target < 15000 ms); ${Math.round(d.matched / ((d.lastReceipt - t0) / 1000))} pushes/s overall`,
);
console.log(
  `  at the last line: received ${atLast.received}, in the outbox ${atLast.identityEvents}, relayed to BullMQ ${atLast.relayed}, accepted by JIMS ${pushedAtLast}`,
);
console.log(`  latency send → JIMS receipt: p50 ${ms(p.p50)}, p90 ${ms(p.p90)}, p99 ${ms(p.p99)}, max ${ms(p.max)}`);
// Where the slow ones are: a cold start (JIT, first token, connections) or a queue that builds up.
const bySecond: string[] = [];
for (let sec = 0; sec < Math.ceil(sendSecs); sec++) {
  const l = d.pairs.filter((x) => x.sentAt - t0 >= sec * 1000 && x.sentAt - t0 < (sec + 1) * 1000).map((x) => x.latency);
  if (l.length) bySecond.push(`${sec}s:${percentiles(l).p99.toFixed(0)}`);
}
console.log(`  p99 latency (ms) by second of sending: ${bySecond.join(' ')}`);
console.log(
  `  bridge process: peak rss ${mb(bridge.peakRss)}, peak heap used ${mb(bridge.peakHeapUsed)} (now ${mb(bridge.rss)} / ${mb(bridge.heapUsed)}; start-up peak ${mb(bridge.startupPeakRss)} / ${mb(bridge.startupPeakHeapUsed)})`,
);
console.log(
  `  redis: used_memory ${mb(redisMem.used)} (peak ${mb(redisMem.peak)}); bridge counters ${JSON.stringify(bridge.counters)}`,
);
await sender.close();
await stack.stop();
process.exit(0);
