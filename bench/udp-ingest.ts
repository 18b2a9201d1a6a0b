// UDP ingest capacity: a bare dgram socket that only counts datagrams versus the ptim UDP
// receiver (allow-list, framing, metrics, RawMessage) with a counting sink, at increasing offered
// rates of ~500-byte datagrams over loopback. The sender is a separate process so it does not
// share the receiver's event loop. Run: node --import tsx bench/udp-ingest.ts [rates…]
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../src/config/schema.js';
import { createReceivers } from '../src/ingest/receivers.js';
import { silentLogger } from '../src/log.js';
import { createMetrics } from '../src/ops/metrics.js';

const SIZE = 500;
/** Each step sends for at most this long, and at most MAX_PER_STEP datagrams. */
const STEP_MS = 1000;
const MAX_PER_STEP = 300_000;
const RECV_BUFFER = 4 * 1024 * 1024;
const LOSS_THRESHOLD = 0.001; // "loss begins" at the first rate losing more than 0.1 %

interface SendOrder {
  port: number;
  rate: number;
  count: number;
}
interface SendReport {
  sent: number;
  elapsedMs: number;
}

// ---- sender (child process) -------------------------------------------------------------------

async function senderMain(): Promise<void> {
  const line =
    '<30>Mar  3 14:20:00 srx345-hq RT_FLOW: RT_FLOW_SESSION_CREATE: session created 192.0.2.10/51234->198.51.100.20/443 ';
  const payload = Buffer.from(line.padEnd(SIZE, 'x'));
  process.send!('ready');
  process.on('message', (raw) => {
    const order = raw as SendOrder;
    const sock = createSocket('udp4');
    sock.connect(order.port, '127.0.0.1', () => {
      const start = process.hrtime.bigint();
      let sent = 0;
      const tick = () => {
        const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
        const due = Math.min(order.count, Math.floor((order.rate * elapsed) / 1000));
        // Bounded bursts keep pacing smooth and let libuv flush between them.
        for (let k = 0; sent < due && k < 2000; k++, sent++) sock.send(payload);
        if (sent < order.count && elapsed < STEP_MS * 1.5) setImmediate(tick);
        else {
          const report: SendReport = { sent, elapsedMs: elapsed };
          sock.close(() => process.send!(report));
        }
      };
      tick();
    });
  });
}

// ---- receivers under test ---------------------------------------------------------------------

interface Target {
  name: string;
  port: number;
  count(): number;
  close(): Promise<void>;
}

async function plainTarget(): Promise<Target> {
  let n = 0;
  const s: Socket = createSocket({ type: 'udp4', recvBufferSize: RECV_BUFFER });
  s.on('message', () => {
    n++;
  });
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return { name: 'plain dgram', port: s.address().port, count: () => n, close: () => new Promise((r) => s.close(() => r())) };
}

async function ptimTarget(): Promise<Target> {
  let n = 0;
  const cfg = defaultConfig();
  cfg.ingest.tcp.enabled = false;
  cfg.ingest.tls.enabled = false;
  cfg.ingest.udp = { ...cfg.ingest.udp, bind: ['127.0.0.1'], port: 0, receiveBufferBytes: RECV_BUFFER };
  const r = createReceivers(cfg, {
    sink: () => {
      n++;
    },
    clock: { now: () => Date.now() },
    metrics: createMetrics(),
    logger: silentLogger,
  });
  await r.start();
  return { name: 'ptim UDP receiver', port: r.addresses()[0]!.port, count: () => n, close: () => r.stop() };
}

// ---- driver -----------------------------------------------------------------------------------

interface Row {
  /** Receiver-process CPU (user+system) per received datagram, in microseconds. */
  cpuUs: number;
  rate: number;
  offered: number;
  sent: number;
  received: number;
  perSec: number;
  loss: number;
}

/** Waits until the counter has not moved for `quietMs`; returns when it last moved (hrtime ns). */
async function drained(count: () => number, quietMs = 150): Promise<bigint> {
  let last = count();
  let lastMoved = process.hrtime.bigint();
  while (Number(process.hrtime.bigint() - lastMoved) / 1e6 < quietMs) {
    await new Promise((r) => setTimeout(r, 5));
    const c = count();
    if (c !== last) {
      last = c;
      lastMoved = process.hrtime.bigint();
    }
  }
  return lastMoved;
}

async function step(child: ChildProcess, target: Target, rate: number): Promise<Row> {
  const before = target.count();
  const count = Math.min(MAX_PER_STEP, Math.round((rate * STEP_MS) / 1000));
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const done = once(child, 'message') as Promise<[SendReport]>;
  child.send({ port: target.port, rate, count } satisfies SendOrder);
  const [report] = await done;
  const lastMoved = await drained(target.count);
  // From the order to the last datagram seen (5 ms resolution), never less than the send time.
  const elapsedMs = Math.max(report.elapsedMs, Number(lastMoved - t0) / 1e6);
  const received = target.count() - before;
  const cpu = process.cpuUsage(cpu0);
  return {
    cpuUs: received === 0 ? 0 : (cpu.user + cpu.system) / received,
    rate,
    offered: Math.round((report.sent * 1000) / report.elapsedMs),
    sent: report.sent,
    received,
    perSec: Math.round((received * 1000) / elapsedMs),
    loss: report.sent === 0 ? 0 : 1 - received / report.sent,
  };
}

function print(name: string, rows: Row[]): void {
  console.log(`\n${name}`);
  console.log('  target/s   offered/s      sent  received  received/s   loss %  CPU µs/msg');
  for (const r of rows)
    console.log(
      `  ${String(r.rate).padStart(8)}  ${String(r.offered).padStart(10)}  ${String(r.sent).padStart(8)}  ${String(r.received).padStart(8)}  ${String(r.perSec).padStart(10)}  ${(r.loss * 100).toFixed(2).padStart(7)}  ${r.cpuUs.toFixed(2).padStart(10)}`,
    );
  const first = rows.find((r) => r.loss > LOSS_THRESHOLD);
  console.log(
    `  loss begins at: ${first ? `${first.offered}/s offered (target ${first.rate}/s)` : 'no loss at the rates tried'}`,
  );
}

async function main(): Promise<void> {
  const rates = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const steps = rates.length > 0 ? rates : [25_000, 50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 400_000];
  const child = fork(fileURLToPath(import.meta.url), ['sender'], { execArgv: ['--import', 'tsx'] });
  await once(child, 'message'); // 'ready': the child's start-up must not count against step one
  const plainT = await plainTarget();
  const ptimT = await ptimTarget();
  const plain: Row[] = [];
  const ptim: Row[] = [];
  try {
    // Alternate the two receivers at each rate so both see the same background load.
    for (const rate of steps) {
      plain.push(await step(child, plainT, rate));
      ptim.push(await step(child, ptimT, rate));
    }
  } finally {
    child.kill();
    await plainT.close();
    await ptimT.close();
  }
  print(plainT.name, plain);
  print(ptimT.name, ptim);
  console.log('\nratio ptim/plain (received/s) per target rate:');
  console.log('  ' + steps.map((r, k) => `${r}/s: ${(ptim[k]!.perSec / Math.max(1, plain[k]!.perSec)).toFixed(2)}`).join('  '));
  const best = (rows: Row[]) => Math.max(...rows.map((r) => r.perSec));
  const cpu = (rows: Row[]) => rows.reduce((a, r) => a + r.cpuUs * r.received, 0) / rows.reduce((a, r) => a + r.received, 0);
  console.log(
    `mean CPU per datagram: plain ${cpu(plain).toFixed(2)} µs, ptim ${cpu(ptim).toFixed(2)} µs, ratio ${(cpu(ptim) / cpu(plain)).toFixed(2)}`,
  );
  console.log(
    `peak received/s: plain ${best(plain)}, ptim ${best(ptim)}, ratio ${(best(ptim) / Math.max(1, best(plain))).toFixed(2)} ` +
      `(datagram ${SIZE} B, SO_RCVBUF requested ${RECV_BUFFER} B, node ${process.version})`,
  );
}

if (process.argv[2] === 'sender') void senderMain();
else await main();
