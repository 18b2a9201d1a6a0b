// Crossing threads, as the main thread pays for it: a receive-role worker offers candidate lines
// to the real bounded hand-off (createHandoff, packBatch), the main thread relays each batch to a
// matcher-role worker and keeps it until answered (createPendingBatches), and acknowledges the
// lines to the receive role once answered (coalesceAcks): the message flow of src/threads/,
// without sockets, patterns or Redis. Prints, per line, the main thread's CPU (Linux per-thread
// figures) and busy time (event-loop utilization, which counts waiting for a core too), the
// receive role's CPU (making the lines and packing them), the matcher role's (unpacking) and the
// whole process's.
// Run: npm run bench:handoff -- [--batches 8000] [--lines 256] [--bytes 300] [--runs 5]
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createChannel, type Endpoint, type Message } from '../src/threads/channel.js';
import { coalesceAcks, createHandoff, unpackBatch, type BatchOrder, type WireBatch } from '../src/threads/handoff.js';
import { createPendingBatches } from '../src/threads/matcher.js';
import { spawnThread } from '../src/threads/spawn.js';
import type { RawMessage } from '../src/types.js';

interface Go extends Message {
  readonly batches: number;
  readonly lines: number;
  readonly bytes: number;
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const port = parentPort as unknown as Endpoint;

/** CPU time of the calling thread (user + system), ms: Linux's per-thread figures, in clock ticks (USER_HZ 100). */
function threadCpuMs(): number {
  const stat = readFileSync('/proc/thread-self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Receive role: `lines` candidates per event-loop turn into the bounded hand-off. */
function receiveRole(): void {
  const channel = createChannel(port);
  const handoff = createHandoff({
    maxLines: 100_000,
    batchLines: 256,
    post: (batch) => port.postMessage({ t: 'batch', batch }),
    schedule: (f) => setImmediate(f),
  });
  let resume: (() => void) | undefined;
  let cpu0 = 0;
  channel.on('report', (m: Message) => channel.reply(m, { t: 'report', cpuMs: threadCpuMs() - cpu0 } as Message));
  channel.on('ack', (m: Message & { lines: number }) => {
    handoff.ack(m.lines);
    resume?.();
  });
  channel.on('go', (m: Go) => {
    cpu0 = threadCpuMs();
    const line = (): RawMessage => ({
      bytes: Buffer.alloc(m.bytes, 0x61),
      transport: 'udp',
      sourceIp: '192.0.2.10',
      sourcePort: 514,
      receivedAt: Date.now(),
      truncated: false,
    });
    let left = m.batches * m.lines;
    const turn = () => {
      resume = undefined;
      for (let i = 0; i < m.lines && left > 0; i++) {
        if (!handoff.offer(line())) {
          resume = turn; // full: go on once acknowledged
          return;
        }
        left--;
      }
      if (left > 0) setImmediate(turn);
    };
    turn();
  });
}

/** Matcher role: unpacks each batch, reads every line, answers it. */
function matcherRole(): void {
  const channel = createChannel(port);
  let checksum = 0;
  let cpu0 = 0;
  channel.on('start', () => (cpu0 = threadCpuMs()));
  channel.on('batches', (m: Message & { list: BatchOrder[] }) => {
    for (const { batch } of m.list) {
      for (const raw of unpackBatch(batch)) checksum += raw.bytes[raw.bytes.length - 1]! + raw.sourcePort;
      port.postMessage({ t: 'done', seq: batch.seq, events: [] });
    }
  });
  channel.on('report', (m: Message) => {
    channel.reply(m, { t: 'report', cpuMs: threadCpuMs() - cpu0, checksum } as Message);
  });
}

interface Figures {
  /** Main thread CPU (Linux per-thread figures). */
  readonly main: number;
  /** Main thread event-loop utilization (busy wall time, which includes waiting for a core). */
  readonly mainBusy: number;
  /** Receive role: packing included. */
  readonly receive: number;
  /** Matcher role: unpacking included. */
  readonly matcher: number;
  /** All threads. */
  readonly process: number;
}

async function run(go: Omit<Go, 't'>): Promise<Figures> {
  const recvWorker = spawnThread(new URL(import.meta.url), { workerData: { role: 'receive' } });
  const matchWorker = spawnThread(new URL(import.meta.url), { workerData: { role: 'matcher' } });
  const recv = createChannel(recvWorker);
  const match = createChannel(matchWorker);
  const pending = createPendingBatches();
  const thread = { channel: match, ready: true };
  const ack = coalesceAcks(
    (lines) => recv.post({ t: 'ack', lines } as Message),
    (send) => setImmediate(send),
  );
  const total = go.batches * go.lines;
  let answered = 0;
  const finished = new Promise<void>((resolve) => {
    recv.on('batch', (m: Message & { batch: WireBatch }) => pending.add(m.batch, thread));
    match.on('done', (m: Message & { seq: number }) => {
      const batch = pending.take(m.seq)!;
      answered += batch.count;
      ack(batch.count);
      if (answered === total) resolve();
    });
  });
  await new Promise((r) => setTimeout(r, 300)); // both workers loaded
  match.post({ t: 'start' });
  const elu0 = performance.eventLoopUtilization();
  const main0 = threadCpuMs();
  const cpu0 = process.cpuUsage();
  recv.post({ t: 'go', ...go } as Message);
  await finished;
  const elu = performance.eventLoopUtilization(elu0);
  const mainMs = threadCpuMs() - main0;
  const cpu = process.cpuUsage(cpu0);
  const [received, matched] = await Promise.all(
    [recv, match].map((c) => c.request<Message & { cpuMs: number }>({ t: 'report' }, 5000)),
  );
  await Promise.all([recvWorker.terminate(), matchWorker.terminate()]);
  const perLine = (ms: number) => (ms * 1e6) / total;
  return {
    main: perLine(mainMs),
    mainBusy: perLine(elu.active),
    receive: perLine(received!.cpuMs),
    matcher: perLine(matched!.cpuMs),
    process: perLine((cpu.user + cpu.system) / 1000),
  };
}

const describe = (r: Figures) =>
  `main thread CPU ${r.main.toFixed(0)} (busy ${r.mainBusy.toFixed(0)}), receive thread CPU ${r.receive.toFixed(0)}, ` +
  `matcher thread CPU ${r.matcher.toFixed(0)}, process CPU ${r.process.toFixed(0)} ns/line`;

async function main(): Promise<void> {
  const go = { batches: flag('batches', 8000), lines: flag('lines', 256), bytes: flag('bytes', 300) };
  const runs = flag('runs', 5);
  console.log(`hand-off: ${go.batches} batches of ${go.lines} lines of ${go.bytes} bytes, ${runs} runs (ns per line)`);
  const all: Awaited<ReturnType<typeof run>>[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await run(go);
    all.push(r);
    console.log(`run ${i + 1}: ${describe(r)}`);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const pick = (k: keyof Figures) => median(all.map((r) => r[k]));
  console.log(
    `median: ${describe({ main: pick('main'), mainBusy: pick('mainBusy'), receive: pick('receive'), matcher: pick('matcher'), process: pick('process') })}`,
  );
}

const role = (workerData as { role?: string } | null)?.role;
if (isMainThread) await main();
else if (role === 'receive') receiveRole();
else matcherRole();
