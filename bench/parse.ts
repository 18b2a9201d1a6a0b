// Micro-benchmark of the syslog parser on the sample mix (test/fixtures/srx-vpn.log).
// Run: node --import tsx bench/parse.ts. Prints parses/s and µs per parse, overall and per format.
import { loadSamples } from '../test/fixtures/samples.js';
import { parseSyslog } from '../src/syslog/parse.js';

const samples = loadSamples().map((s) => s.bytes);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const TARGET_MS = Number(process.env.TARGET_MS ?? 1000);

/** Runs `lines` repeatedly for about TARGET_MS and returns parses per second (best of ROUNDS). */
function measure(lines: Buffer[]): number {
  let sink = 0; // keeps the results observable so the JIT cannot drop the work
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let parses = 0;
    const start = process.hrtime.bigint();
    let elapsedNs = 0n;
    while (elapsedNs < BigInt(TARGET_MS) * 1_000_000n) {
      for (let k = 0; k < 200; k++) for (const b of lines) sink += parseSyslog(b).text.length;
      parses += 200 * lines.length;
      elapsedNs = process.hrtime.bigint() - start;
    }
    best = Math.max(best, parses / (Number(elapsedNs) / 1e9));
  }
  if (sink === -1) console.log('unreachable');
  return best;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const avgBytes = (lines: Buffer[]): number => lines.reduce((a, b) => a + b.length, 0) / Math.max(1, lines.length);

// Warm-up so the first measurement is not the interpreter's.
for (let i = 0; i < 2000; i++) for (const b of samples) parseSyslog(b);

const groups: [string, Buffer[]][] = [['all samples', samples]];
for (const format of ['rfc5424', 'rfc3164', 'unknown'] as const) {
  const lines = samples.filter((b) => parseSyslog(b).format === format);
  if (lines.length > 0) groups.push([format, lines]);
}
console.log(`node ${process.version}, best of ${ROUNDS} rounds of ~${TARGET_MS} ms`);
for (const [name, lines] of groups) {
  const rate = measure(lines);
  console.log(
    `${name.padEnd(12)} ${String(lines.length).padStart(3)} lines, avg ${avgBytes(lines).toFixed(0).padStart(3)} B: ` +
      `${fmt(rate).padStart(9)} parses/s, ${(1e6 / rate).toFixed(2)} µs/parse`,
  );
}
