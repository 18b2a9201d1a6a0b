// Helpers shared by the end-to-end benches: the whole product on this machine (private
// redis-server with AOF as shipped, the JIMS simulator over HTTP on loopback, the bridge in its own
// process), a paced UDP sender, and matching of sent lines to simulator receipts.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from '../src/demo/redis-server.js';
import { createJimsSimulator, type JimsSimulator } from '../src/jims-sim/simulator.js';
import type { SimOperation } from '../src/jims-sim/state.js';
import { canonicalIp } from '../src/identity/ip.js';
import { SERVE_ENV, SERVE_NODE_FLAGS } from '../src/threads/heap.js';
import type { BridgeStartOrder, BridgeStats } from './bridge-process.js';

/** Send times and simulator receipt times share this clock (both live in the bench process). */
export const benchClock = { now: () => performance.now() };

export interface Stack {
  readonly syslogPort: number;
  /** SO_RCVBUF of the bridge's UDP socket as the kernel reports it (Linux: twice what it grants). */
  readonly receiveBufferBytes: number | undefined;
  readonly sim: JimsSimulator;
  readonly redis: PrivateRedis;
  bridgeStats(): Promise<BridgeStats>;
  /** `used_memory` and `used_memory_peak` of the private redis-server, bytes. */
  redisMemory(): Promise<{ used: number; peak: number }>;
  /** CPU time redis-server has used (INFO cpu, user + sys), microseconds. */
  redisCpuMicros(): Promise<number>;
  /** `INFO commandstats` of the private redis-server: calls and CPU microseconds by command. */
  redisCommandStats(): Promise<Map<string, { calls: number; usec: number }>>;
  /** Bytes redis-server has read from its clients (INFO stats `total_net_input_bytes`). */
  redisInputBytes(): Promise<number>;
  stop(): Promise<void>;
}

const REPO = fileURLToPath(new URL('..', import.meta.url));

/**
 * The bridge as shipped: bench/bridge-process.ts and the src/ it imports compiled once per bench
 * run with tsc (as `npm run build` does) and run by plain node, so memory and CPU figures carry no
 * tsx loader in the process or its threads. Built under node_modules/.cache so the compiled files
 * resolve the project's dependencies.
 */
async function buildBridge(): Promise<string> {
  const out = join(REPO, 'node_modules', '.cache', 'ptim-bench-build');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const tsconfig = join(out, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(REPO, 'tsconfig.json'),
      compilerOptions: { rootDir: REPO, outDir: out, noEmit: false, sourceMap: false },
      // Ambient declarations (e.g. src/redis/cluster-key-slot.d.ts) are not reached by imports.
      include: [join(REPO, 'src', '**', '*.d.ts')],
      files: [join(REPO, 'bench', 'bridge-process.ts')],
    }),
  );
  const tsc = spawn(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const [code] = (await once(tsc, 'exit')) as [number];
  if (code !== 0) throw new Error('cannot compile the bridge for the bench');
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  symlinkSync(join(REPO, 'patterns'), join(out, 'patterns'));
  // The batched UDP reader's addon, where src/ingest/udp-batch.ts looks for it (../../build).
  symlinkSync(join(REPO, 'build'), join(out, 'build'));
  return join(out, 'bench', 'bridge-process.js');
}

export async function startStack(overrides: Record<string, unknown> = {}): Promise<Stack> {
  const redis = await startPrivateRedis({ appendonly: true });
  // Whatever ends the bench, an error included, the private redis-server goes with it (kill()
  // sends its SIGKILL synchronously; the bridge process ends when its IPC channel closes).
  const onExit = () => {
    void redis.kill();
    rmSync(redis.dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const clientId = 'bench';
  const clientSecret = randomBytes(12).toString('hex');
  const sim = createJimsSimulator({ clients: [{ clientId, clientSecret }], clock: benchClock });
  const { port: simPort } = await sim.listen(0, '127.0.0.1');
  const child: ChildProcess = fork(await buildBridge(), [], {
    // Started as the shipped start command starts it (its node flags and environment); then
    // BRIDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the bridge alone.
    execArgv: [...SERVE_NODE_FLAGS, ...(process.env.BRIDGE_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    env: { ...process.env, ...SERVE_ENV },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const request = async <T>(msg: unknown, answer: string): Promise<T> => {
    const got = new Promise<T>((resolve, reject) => {
      // Each request's listeners go with its answer (a bench asks for stats many times).
      const done = () => {
        child.off('message', onMsg);
        child.off('exit', onExit);
      };
      const onMsg = (raw: unknown) => {
        const m = raw as { type: string; message?: string };
        if (m.type === answer) {
          done();
          resolve(m as T);
        } else if (m.type === 'error') {
          done();
          reject(new Error(`bridge process: ${m.message}`));
        }
      };
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`bridge process exited (${code})`));
      };
      child.on('message', onMsg);
      child.once('exit', onExit);
    });
    child.send(msg as object);
    return got;
  };
  const start: BridgeStartOrder = { type: 'start', redisUrl: redis.url, simPort, clientId, clientSecret, overrides };
  const { syslogPort, receiveBufferBytes } = await request<{ syslogPort: number; receiveBufferBytes?: number }>(start, 'ready');
  const info = new Redis(redis.url, { lazyConnect: true });
  await info.connect();
  return {
    syslogPort,
    receiveBufferBytes,
    sim,
    redis,
    bridgeStats: async () => (await request<{ stats: BridgeStats }>({ type: 'stats' }, 'stats')).stats,
    async redisMemory() {
      const text = await info.info('memory');
      const field = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
      return { used: field('used_memory'), peak: field('used_memory_peak') };
    },
    async redisCpuMicros() {
      const text = await info.info('cpu');
      const field = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(text)?.[1] ?? NaN);
      return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
    },
    async redisInputBytes() {
      return Number(/^total_net_input_bytes:(\d+)/m.exec(await info.info('stats'))?.[1] ?? NaN);
    },
    async redisCommandStats() {
      const out = new Map<string, { calls: number; usec: number }>();
      for (const m of (await info.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
        out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
      return out;
    },
    async stop() {
      await request({ type: 'stop' }, 'stopped').catch(() => child.kill('SIGKILL'));
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      info.disconnect();
      await sim.close();
      await redis.stop();
      process.off('exit', onExit);
    },
  };
}

/** One line the bench sent and the simulator operation it must cause. */
export interface Sent {
  readonly at: number;
  readonly ip: string;
  readonly op: SimOperation;
}

export interface UdpSender {
  /** Sends now and records the send time (benchClock). */
  send(line: string, expect: { ip: string; op: SimOperation } | undefined): void;
  readonly sent: Sent[];
  /** Datagrams handed to the socket. */
  count(): number;
  close(): Promise<void>;
}

export async function udpSender(port: number): Promise<UdpSender> {
  const sock = createSocket('udp4');
  sock.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  const sent: Sent[] = [];
  let n = 0;
  return {
    sent,
    send(line, expect) {
      const at = benchClock.now();
      sock.send(line);
      n++;
      if (expect) sent.push({ at, ...expect });
    },
    count: () => n,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

export interface Delivery {
  /** Latency (ms) of each matched send, in receipt order. */
  latencies: number[];
  /** The same with each send time (benchClock). */
  pairs: { sentAt: number; latency: number }[];
  matched: number;
  expected: number;
  /** Simulator operations no sent line accounts for (e.g. duplicates). */
  unexpected: number;
  /** Receipt time of the last matched operation (benchClock). */
  lastReceipt: number;
}

/** Pairs sends with simulator receipts by ip (canonical form) + op, first come first served per pair. */
export function matchDeliveries(sent: readonly Sent[], sim: JimsSimulator): Delivery {
  const key = (op: SimOperation, ip: string) => `${op} ${canonicalIp(ip) ?? ip}`;
  const waiting = new Map<string, Sent[]>();
  for (const s of sent) {
    const k = key(s.op, s.ip);
    const q = waiting.get(k);
    if (q) q.push(s);
    else waiting.set(k, [s]);
  }
  const latencies: number[] = [];
  const pairs: { sentAt: number; latency: number }[] = [];
  let unexpected = 0;
  let lastReceipt = 0;
  for (const op of sim.operations()) {
    const s = waiting.get(key(op.op, op.ip))?.shift();
    if (!s) {
      unexpected++;
      continue;
    }
    latencies.push(op.at - s.at);
    pairs.push({ sentAt: s.at, latency: op.at - s.at });
    lastReceipt = Math.max(lastReceipt, op.at);
  }
  return { latencies, pairs, matched: latencies.length, expected: sent.length, unexpected, lastReceipt };
}

/** Waits until the simulator has applied `n` pushes, polling every 20 ms, for at most `timeoutMs`. */
export async function waitForPushes(sim: JimsSimulator, n: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (sim.counters().pushes < n) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

export function percentiles(values: readonly number[]): { p50: number; p90: number; p99: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] ?? NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1] ?? NaN };
}

/** The commands Redis spent the most CPU on between two `redisCommandStats()` readings, per event. */
export function commandsPerEvent(
  before: Map<string, { calls: number; usec: number }>,
  after: Map<string, { calls: number; usec: number }>,
  events: number,
  top = 8,
): string {
  const rows = [...after].map(([cmd, a]) => {
    const b = before.get(cmd) ?? { calls: 0, usec: 0 };
    return { cmd, calls: (a.calls - b.calls) / events, usec: (a.usec - b.usec) / events };
  });
  const total = rows.reduce((s, r) => s + r.calls, 0);
  const shown = rows
    .sort((x, y) => y.usec - x.usec)
    .slice(0, top)
    .map((r) => `${r.cmd} ${r.calls.toFixed(2)} (${r.usec.toFixed(1)} µs)`);
  return `${total.toFixed(1)} commands per event; by CPU: ${shown.join(', ')}`;
}

export const ms = (v: number) => `${v.toFixed(1)} ms`;
export const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** `--name value` or `--name=value` from argv, else the default. */
export function numberFlag(name: string, fallback: number): number {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) return Number(argv[i + 1]);
    if (a.startsWith(`--${name}=`)) return Number(a.slice(name.length + 3));
  }
  return fallback;
}

/** `--set queue.concurrency=64` (repeatable) → a config override object for the bridge. */
export function configOverrides(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== '--set') continue;
    const [path, raw] = (argv[i + 1] ?? '').split('=') as [string, string | undefined];
    let node = out;
    const keys = path.split('.');
    keys.slice(0, -1).forEach((k) => (node = (node[k] ??= {}) as Record<string, unknown>));
    let value: unknown = raw;
    try {
      value = JSON.parse(raw ?? '');
    } catch {
      // a plain string
    }
    node[keys[keys.length - 1]!] = value;
  }
  return out;
}

// ---- a sender that can really offer high rates --------------------------------------------------

/**
 * A small C sender: sendmmsg(2) in batches of 64, paced against the monotonic clock, cycling
 * through a file of lines (one datagram per line) and sending each one to every given port (so a
 * bridge and a bare socket are offered the very same load). Prints `<lines sent per port>
 * <seconds it took>`: what was offered, not what was intended.
 */
const BLASTER_C = String.raw`
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#define BATCH 64
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: blaster FILE RATE SECS PORT [PORT]\n"); return 2; }
  FILE *f = fopen(argv[1], "rb"); if (!f) { perror("open"); return 1; }
  fseek(f, 0, SEEK_END); long size = ftell(f); fseek(f, 0, SEEK_SET);
  char *buf = malloc(size + 1); if (fread(buf, 1, size, f) != (size_t)size) return 1; buf[size] = '\n';
  long n = 0; for (long i = 0; i < size; i++) if (buf[i] == '\n') n++;
  if (size > 0 && buf[size - 1] != '\n') n++;
  char **line = malloc(sizeof(char *) * n); size_t *len = malloc(sizeof(size_t) * n);
  long k = 0; char *p = buf; for (long i = 0; i <= size && k < n; i++) if (buf[i] == '\n') { line[k] = p; len[k] = &buf[i] - p; k++; p = &buf[i + 1]; }
  double rate = atof(argv[2]), secs = atof(argv[3]);
  int ndst = argc - 4; struct sockaddr_in dst[2];
  for (int d = 0; d < ndst && d < 2; d++) { memset(&dst[d], 0, sizeof dst[d]); dst[d].sin_family = AF_INET; dst[d].sin_port = htons(atoi(argv[4 + d])); dst[d].sin_addr.s_addr = htonl(INADDR_LOOPBACK); }
  if (ndst > 2) ndst = 2;
  int fd = socket(AF_INET, SOCK_DGRAM, 0); int sz = 8 << 20; setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  struct mmsghdr msgs[BATCH * 2]; struct iovec iov[BATCH * 2];
  long total = (long)(rate * secs), sent = 0, failed = 0; double t0 = now();
  while (sent < total) {
    double el = now() - t0; long due = (long)(rate * el); if (due > total) due = total;
    if (sent >= due) { struct timespec s = {0, 100000}; nanosleep(&s, 0); continue; }
    int m = due - sent > BATCH ? BATCH : (int)(due - sent), j = 0;
    for (int i = 0; i < m; i++) for (int d = 0; d < ndst; d++, j++) {
      long l = (sent + i) % n; iov[j].iov_base = line[l]; iov[j].iov_len = len[l];
      memset(&msgs[j], 0, sizeof msgs[j]); msgs[j].msg_hdr.msg_iov = &iov[j]; msgs[j].msg_hdr.msg_iovlen = 1;
      msgs[j].msg_hdr.msg_name = &dst[d]; msgs[j].msg_hdr.msg_namelen = sizeof dst[d];
    }
    int off = 0; while (off < j) { int r = sendmmsg(fd, msgs + off, j - off, 0); if (r <= 0) { failed += j - off; break; } off += r; }
    sent += m;
  }
  printf("%ld %.4f %ld\n", sent, now() - t0, failed);
  return 0;
}
`;

let blasterPath: Promise<string> | undefined;

/** Compiles the C sender once per bench run (needs `cc`). */
export function buildBlaster(): Promise<string> {
  blasterPath ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptim-blaster-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'blaster.c'), BLASTER_C);
    const out = join(dir, 'blaster');
    const cc = spawn('cc', ['-O2', '-o', out, join(dir, 'blaster.c')], { stdio: ['ignore', 'inherit', 'inherit'] });
    const [code] = (await once(cc, 'exit')) as [number];
    if (code !== 0) throw new Error('cannot compile the C sender (is cc installed?)');
    return out;
  })();
  return blasterPath;
}

export interface BlastReport {
  /** Lines sent to each port. */
  readonly sent: number;
  readonly secs: number;
  /** Datagrams sendmmsg refused. */
  readonly failed: number;
  /** Lines per second actually offered to each port. */
  readonly rate: number;
}

/**
 * Writes `lines` to a file and sends them (cycling) at `rate` lines/s for `secs` to every port,
 * split over `senders` C sender processes (one sender tops out near 130 k lines/s to two ports on
 * a busy 2-core host). Reports what they really offered, all together.
 */
export async function blast(
  lines: readonly string[],
  rate: number,
  secs: number,
  ports: readonly number[],
  senders = 1,
): Promise<BlastReport> {
  const bin = await buildBlaster();
  const file = join(dirname(bin), `lines-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(file, lines.join('\n') + '\n');
  try {
    const one = async () => {
      const child = spawn(bin, [file, String(rate / senders), String(secs), ...ports.map(String)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const [code] = (await once(child, 'exit')) as [number];
      if (code !== 0) throw new Error(`C sender failed (${code})`);
      const [sent = 0, took = 0, failed = 0] = out.trim().split(/\s+/).map(Number);
      return { sent, took, failed };
    };
    const all = await Promise.all(Array.from({ length: senders }, one));
    const sent = all.reduce((n, r) => n + r.sent, 0);
    const took = Math.max(...all.map((r) => r.took));
    const failed = all.reduce((n, r) => n + r.failed, 0);
    return { sent, secs: took, failed, rate: took > 0 ? sent / took : 0 };
  } finally {
    rmSync(file, { force: true });
  }
}

/** A firewall's flow log line (noise for the bridge), padded to `size` bytes. */
export function noiseLine(i: number, size = 500): string {
  const line =
    `<14>Mar  3 14:20:00 srx345-hq RT_FLOW: RT_FLOW_SESSION_CREATE: session created 192.0.2.${i % 250}/${10000 + (i % 50000)}` +
    `->198.51.100.20/443 0x0 junos-https 203.0.113.5/${20000 + (i % 40000)}->198.51.100.20/443 0x0 N/A N/A N/A N/A 6 ` +
    `trust-to-untrust trust untrust ${i} N/A(N/A) reth1.0 UNKNOWN UNKNOWN UNKNOWN `;
  return line.padEnd(size, 'x');
}
