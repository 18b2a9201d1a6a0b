// Throughput of the hot path on one core: one big buffer of realistic firewall syslog (≥ 99 %
// RT_FLOW session logs, ≤ 1 % VPN alarms, ~500-byte lines) framed by the StreamFramer (LF framing,
// 64 KiB reads as from a TCP socket) → prefilter → parse → match → normalize.
// Run: node --import tsx bench/pipeline.ts   (LINES=200000 PASSES=5 VPN_PERMILLE=5 to change)
import { performance } from 'node:perf_hooks';
import { defaultConfig } from '../src/config/schema.js';
import { StreamFramer } from '../src/ingest/framing.js';
import { silentLogger } from '../src/log.js';
import { loadLibrary } from '../src/match/library.js';
import { createMetrics } from '../src/ops/metrics.js';
import { createPipeline } from '../src/pipeline.js';
import type { RawMessage } from '../src/types.js';
import { loadSamples } from '../test/fixtures/samples.js';

const LINES = Number(process.env.LINES ?? 200_000);
const PASSES = Number(process.env.PASSES ?? 5);
const VPN_PERMILLE = Number(process.env.VPN_PERMILLE ?? 5);
const CHUNK = 64 * 1024;

/** A flow-log line like SRX `structured-data`-less BSD RT_FLOW output, padded to ~500 bytes. */
function flowLine(i: number): string {
  const a = `192.0.2.${i % 250}`;
  const b = `198.51.100.${(i * 7) % 250}`;
  const sp = 1024 + (i % 60000);
  const kind = i % 2 === 0 ? 'RT_FLOW_SESSION_CREATE' : 'RT_FLOW_SESSION_CLOSE';
  const body =
    kind === 'RT_FLOW_SESSION_CREATE'
      ? `session created ${a}/${sp}->${b}/443 0x0 junos-https ${a}/${sp}->${b}/443 0x0 N/A N/A N/A N/A 6 allow-web trust untrust ${100000 + i} N/A(N/A) ge-0/0/1.0 UNKNOWN UNKNOWN UNKNOWN N/A N/A -1 N/A N/A N/A Off root N/A N/A`
      : `session closed TCP FIN: ${a}/${sp}->${b}/443 0x0 junos-https ${a}/${sp}->${b}/443 0x0 N/A N/A N/A N/A 6 allow-web trust untrust ${100000 + i} 12(3456) 10(7890) 42 HTTPS UNKNOWN N/A(N/A) ge-0/0/1.0 UNKNOWN N/A N/A -1 N/A NA 0 0.0.0.0/0->0.0.0.0/0 NA NA N/A N/A Off root`;
  const line = `<14>Mar  3 14:02:11 srx345-hq RT_FLOW: ${kind}: ${body}`;
  return line.length < 500 ? `${line} ${'x'.repeat(500 - line.length - 1)}` : line;
}

const vpn = loadSamples()
  .filter((s) => s.id.startsWith('C') && !s.bytes.includes(0x0a))
  .map((s) => s.bytes);

const parts: Buffer[] = [];
let vpnLines = 0;
for (let i = 0; i < LINES; i++) {
  if (i % 1000 < VPN_PERMILLE) {
    parts.push(vpn[i % vpn.length]!);
    vpnLines++;
  } else parts.push(Buffer.from(flowLine(i), 'latin1'));
  parts.push(Buffer.from('\n'));
}
const big = Buffer.concat(parts);
parts.length = 0;

const library = await loadLibrary(['patterns']);
const metrics = createMetrics();
const pipeline = createPipeline({
  library,
  identity: defaultConfig().identity,
  metrics,
  logger: silentLogger,
  clock: { now: () => 0 },
});

/** The framer alone (frames counted, not kept). */
function frameOnly(): number {
  const t0 = performance.now();
  const framer = new StreamFramer({ maxMessageBytes: 16 * 1024, maxContinuationLines: 4 });
  let n = 0;
  for (let off = 0; off < big.length; off += CHUNK) n += framer.push(big.subarray(off, off + CHUNK)).length;
  n += framer.end().length;
  return ((performance.now() - t0) * 1e6) / n;
}

/** The pipeline alone, on pre-framed lines (what this stage costs without the framer). */
const framed: Buffer[] = [];
{
  const framer = new StreamFramer({ maxMessageBytes: 16 * 1024, maxContinuationLines: 4 });
  for (let off = 0; off < big.length; off += CHUNK)
    for (const f of framer.push(big.subarray(off, off + CHUNK))) framed.push(f.bytes);
  for (const f of framer.end()) framed.push(f.bytes);
}
function pipelineOnly(): number {
  const t0 = performance.now();
  for (const bytes of framed)
    pipeline.process({ bytes, transport: 'tcp', sourceIp: '192.0.2.10', sourcePort: 50000, receivedAt: 0, truncated: false });
  return ((performance.now() - t0) * 1e6) / framed.length;
}

function run(): { lines: number; events: number; ms: number } {
  const t0 = performance.now();
  const framer = new StreamFramer({ maxMessageBytes: 16 * 1024, maxContinuationLines: 4 });
  let lines = 0;
  let events = 0;
  const handle = (bytes: Buffer, truncated: boolean) => {
    const raw: RawMessage = { bytes, transport: 'tcp', sourceIp: '192.0.2.10', sourcePort: 50000, receivedAt: 0, truncated };
    lines++;
    if (pipeline.process(raw).type === 'event') events++;
  };
  for (let off = 0; off < big.length; off += CHUNK)
    for (const f of framer.push(big.subarray(off, off + CHUNK))) handle(f.bytes, f.truncated);
  for (const f of framer.end()) handle(f.bytes, f.truncated);
  return { lines, events, ms: performance.now() - t0 };
}

console.log(
  `input: ${LINES} lines, ${(big.length / 1e6).toFixed(1)} MB, ${vpnLines} VPN lines (${(VPN_PERMILLE / 10).toFixed(1)} %), avg ${(big.length / LINES).toFixed(0)} B/line`,
);
run(); // warm-up (JIT)
const results = [];
for (let p = 0; p < PASSES; p++) results.push(run());
const best = results.reduce((a, b) => (b.ms < a.ms ? b : a));
const total = results.reduce((a, b) => a + b.ms, 0);
const lines = results.reduce((a, b) => a + b.lines, 0);
const mem = process.memoryUsage();
console.log(`framer → prefilter → parse → match → normalize, ${PASSES} passes:`);
console.log(
  `  ${Math.round(lines / (total / 1000)).toLocaleString('en-US')} lines/s average, ${Math.round(best.lines / (best.ms / 1000)).toLocaleString('en-US')} lines/s best`,
);
console.log(`  ${((total * 1e6) / lines).toFixed(0)} ns/line end to end`);
pipelineOnly();
const pNs = Math.min(...Array.from({ length: PASSES }, pipelineOnly));
const fNs = Math.min(...Array.from({ length: PASSES }, frameOnly));
console.log(
  `  of which: framer ≈ ${fNs.toFixed(0)} ns/line; prefilter → … → normalize ≈ ${pNs.toFixed(0)} ns/line (${Math.round(1e9 / pNs).toLocaleString('en-US')} lines/s)`,
);
console.log(`  ${best.events} events per pass (expected ${vpnLines} VPN lines, some of them site-to-site/placeholder)`);
console.log(
  `  memory: rss ${(mem.rss / 1e6).toFixed(0)} MB, heap used ${(mem.heapUsed / 1e6).toFixed(0)} MB (input buffer ${(big.length / 1e6).toFixed(0)} MB)`,
);
process.exit(0);
