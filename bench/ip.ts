// Cost of canonicalIp and ipKey per call on login-storm-like client addresses (IPv6 as the storm
// bench spells them, and IPv4), in this process, without Redis. Inputs are built before timing so
// only the calls are measured; the best of ROUNDS rounds is printed (least disturbed by the host).
// Run: npm run bench:ip   Env: N (calls per round, default 1e6), ROUNDS (default 7).
import { performance } from 'node:perf_hooks';
import { canonicalIp } from '../src/identity/ip.js';
import { ipKey } from '../src/redis/keys.js';

const N = Number(process.env.N ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
/** Distinct addresses cycled through (as many users as the storm bench logs in). */
const DISTINCT = 50_000;

/** As a pattern's capture hands them over: slices of the received text. */
const captured = (ips: string[]): string[] => {
  const line = ips.join(' ');
  let at = 0;
  return ips.map((ip) => {
    const slice = line.slice(at, at + ip.length);
    at += ip.length + 1;
    return slice;
  });
};

const inputs: Record<string, string[]> = {
  ipv6: captured(Array.from({ length: DISTINCT }, (_, i) => `2001:db8::1:${i.toString(16)}`)),
  ipv4: captured(Array.from({ length: DISTINCT }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)),
};

/** Best ns per call of `f` over the inputs; the summed lengths keep the calls from being optimized away. */
function time(f: (ip: string) => string | undefined, ips: string[]): { ns: number; sink: number } {
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) sink += f(ips[i % DISTINCT]!)?.length ?? 0;
    best = Math.min(best, ((performance.now() - t0) * 1e6) / N);
  }
  return { ns: best, sink };
}

const fns: Record<string, (ip: string) => string | undefined> = {
  canonicalIp,
  ipKey: (ip) => ipKey(ip),
  'ipKey scoped': (ip) => ipKey(ip, 'vr-blue'),
};
for (const [family, ips] of Object.entries(inputs)) {
  for (const [name, f] of Object.entries(fns)) {
    const { ns, sink } = time(f, ips);
    console.log(
      `${family.padEnd(5)} ${name.padEnd(13)} ${ns.toFixed(1).padStart(7)} ns/call  (${N} calls, best of ${ROUNDS}; ${sink})`,
    );
  }
}
