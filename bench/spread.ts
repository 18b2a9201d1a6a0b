// CPU per object built the ways the bridge's per-event code could build a log line or a labelled
// object: a spread followed by more properties (`{ ...line, outcome, … }`), spreads of several
// objects, Object.assign, and a plain literal. On Node 20 the first two take V8's slow path, so
// per-event code uses Object.assign (queue/attempt.ts `outcomeLine`, events.ts). Best of ROUNDS
// rounds of N objects each. Run: npm run bench:spread   Env: N (default 1000000), ROUNDS (default 5).
import { outcomeLine } from '../src/queue/attempt.js';
import { JOB_LINE } from './audit-line.js';

const N = Number(process.env.N ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);

const line = JOB_LINE;
const labels = { transport: 'udp' };
const fixed = { reason: 'not_allowed' };

let kept: unknown;
const ways: Record<string, () => unknown> = {
  '{ ...line, outcome, status, server }': () => ({ ...line, outcome: 'delivered', status: 200, server: 'primary' }),
  'outcomeLine(line, { outcome, status, server })': () =>
    outcomeLine(line, { outcome: 'delivered', status: 200, server: 'primary' }),
  '{ outcome, status, server, ...line }': () => ({ outcome: 'delivered', status: 200, server: 'primary', ...line }),
  'the same line as one literal': () => ({
    correlationId: line.correlationId,
    jobId: line.jobId,
    ip: line.ip,
    user: line.user,
    domain: line.domain,
    seq: line.seq,
    kind: line.kind,
    firewall: line.firewall,
    attempt: line.attempt,
    outcome: 'delivered',
    status: 200,
    server: 'primary',
  }),
  '{ ...fixed, ...labels } (two small objects)': () => ({ ...fixed, ...labels }),
  'Object.assign({}, fixed, labels)': () => Object.assign({}, fixed, labels),
};

for (const [name, build] of Object.entries(ways)) {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.cpuUsage();
    for (let i = 0; i < N; i++) kept = build();
    const u = process.cpuUsage(t);
    best = Math.min(best, (u.user + u.system) / N);
  }
  console.log(`${name}: ${(best * 1000).toFixed(0)} ns CPU per object (best of ${ROUNDS} × ${N})`);
}
if (kept === undefined) throw new Error('unreachable');
