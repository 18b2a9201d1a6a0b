// End-to-end latency of the whole product on this machine: syslog over UDP at a steady rate →
// bridge (its own process, createApp, real clock) → private redis-server (AOF everysec, as shipped)
// → BullMQ → JIMS simulator over HTTP on loopback. Per event: send time → simulator receipt.
// Sessions connect, rekey once the duplicate window has passed, then disconnect; a freed IP is
// reused by a later session and user names repeat, as on a real VPN.
// Run: node --import tsx bench/e2e-latency.ts [--rate 100] [--secs 30] [--set queue.concurrency=64 …]
import { performance } from 'node:perf_hooks';
import { vpnLine } from '../src/demo/lines.js';
import { defaultConfig } from '../src/config/schema.js';
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

const RATE = numberFlag('rate', 100);
const SECS = numberFlag('secs', 30);
/** Follow-ups wait past the duplicate window, so a repeated UP is a rekey, not a duplicate. */
const FOLLOW_UP_MS = (defaultConfig().sessions.duplicateWindowSecs + 1) * 1000;
const USERS = 600;
const DRAIN_TIMEOUT_MS = 30_000;

const overrides = configOverrides();
const stack = await startStack(overrides);
const sender = await udpSender(stack.syslogPort);

// Client IPs from the documentation ranges (IPv4, then IPv6 when the rate needs more). The pool is
// a stack: a disconnected session's IP is the next one handed out, so IPs are reused by new users.
const pool: string[] = [];
const needed = Math.ceil((RATE * 2 * FOLLOW_UP_MS) / 1000) + 10;
for (let h = 0; pool.length < needed; h++)
  pool.push(h < 508 ? `${h < 254 ? '198.51.100' : '203.0.113'}.${(h % 254) + 1}` : `2001:db8::2:${h.toString(16)}`);
pool.reverse();
interface Session {
  user: string;
  ip: string;
  tunnelId: number;
  /** 0: connected, 1: rekeyed. */
  step: number;
  due: number;
}
const followUps: Session[] = []; // ordered by due time (all follow-ups wait the same time)
let sessions = 0;
const used = new Set<string>();
let reusedIps = 0;
const counts = { connect: 0, rekey: 0, disconnect: 0 };

const total = Math.round(RATE * SECS);
const t0 = performance.now();
let k = 0;
console.log(`e2e: ${RATE} events/s for ${SECS} s (${total} events) over UDP; bridge overrides ${JSON.stringify(overrides)}`);
while (k < total) {
  const now = performance.now();
  const due = Math.min(total, Math.floor(((now - t0) * RATE) / 1000) + 1);
  for (; k < due; k++) {
    const head = followUps[0];
    if (head && head.due <= now) {
      followUps.shift();
      if (head.step === 0) {
        sender.send(vpnLine({ kind: 'up', user: head.user, ip: head.ip, tunnelId: head.tunnelId }), { ip: head.ip, op: 'logon' });
        counts.rekey++;
        followUps.push({ ...head, step: 1, due: now + FOLLOW_UP_MS });
      } else {
        sender.send(vpnLine({ kind: 'down', user: head.user, ip: head.ip, tunnelId: head.tunnelId }), {
          ip: head.ip,
          op: 'logoff',
        });
        counts.disconnect++;
        pool.push(head.ip);
      }
      continue;
    }
    const ip = pool.pop();
    if (!ip) throw new Error('IP pool exhausted: lower --rate');
    if (used.has(ip)) reusedIps++;
    used.add(ip);
    const s: Session = {
      user: `user${sessions % USERS}@example.com`,
      ip,
      tunnelId: 500000 + sessions,
      step: 0,
      due: now + FOLLOW_UP_MS,
    };
    sessions++;
    sender.send(vpnLine({ kind: 'up', user: s.user, ip: s.ip, tunnelId: s.tunnelId }), { ip, op: 'logon' });
    counts.connect++;
    followUps.push(s);
  }
  // Pace with the timer (1 ms granularity); sends are due by the clock, not by the tick count.
  await new Promise((r) => setTimeout(r, 1));
}
const sendSecs = (performance.now() - t0) / 1000;
const allIn = await waitForPushes(stack.sim, sender.sent.length, DRAIN_TIMEOUT_MS);
const d = matchDeliveries(sender.sent, stack.sim);
const bridge = await stack.bridgeStats();
const redisMem = await stack.redisMemory();
const p = percentiles(d.latencies);

console.log(
  `  sent ${sender.count()} datagrams in ${sendSecs.toFixed(1)} s (${counts.connect} connect, ${counts.rekey} rekey, ${counts.disconnect} disconnect; ${sessions} sessions, ${reusedIps} of them on a reused IP)`,
);
console.log(
  `  bridge received ${bridge.counters.received} (UDP loss at the socket: ${sender.count() - (bridge.counters.received ?? 0)}), dropped ${JSON.stringify(bridge.dropped)}`,
);
console.log(
  `  delivered ${d.matched}/${d.expected} (loss ${d.expected - d.matched}${allIn ? '' : `, gave up after ${DRAIN_TIMEOUT_MS / 1000} s`}), unexpected pushes ${d.unexpected}`,
);
console.log(`  latency send → JIMS receipt: p50 ${ms(p.p50)}, p90 ${ms(p.p90)}, p99 ${ms(p.p99)}, max ${ms(p.max)}`);
console.log(
  `  bridge process: rss ${mb(bridge.rss)} (peak ${mb(bridge.peakRss)}), heap used ${mb(bridge.heapUsed)} (peak ${mb(bridge.peakHeapUsed)}); start-up peak rss ${mb(bridge.startupPeakRss)}, heap ${mb(bridge.startupPeakHeapUsed)}; redis used_memory ${mb(redisMem.used)}`,
);
await sender.close();
await stack.stop();
process.exit(0);
