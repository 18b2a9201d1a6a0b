// Helpers shared by the end-to-end benches: the whole product on this machine (private
// redis-server with AOF as shipped, the JIMS simulator over HTTP on loopback, the bridge in its own
// process), a paced UDP sender, and matching of sent lines to simulator receipts.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from '../src/demo/redis-server.js';
import { createJimsSimulator, type JimsSimulator } from '../src/jims-sim/simulator.js';
import type { SimOperation } from '../src/jims-sim/state.js';
import { canonicalIp } from '../src/identity/ip.js';
import type { BridgeStartOrder, BridgeStats } from './bridge-process.js';

/** Send times and simulator receipt times share this clock (both live in the bench process). */
export const benchClock = { now: () => performance.now() };

export interface Stack {
  readonly syslogPort: number;
  readonly sim: JimsSimulator;
  readonly redis: PrivateRedis;
  bridgeStats(): Promise<BridgeStats>;
  /** `used_memory` and `used_memory_peak` of the private redis-server, bytes. */
  redisMemory(): Promise<{ used: number; peak: number }>;
  stop(): Promise<void>;
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
  const child: ChildProcess = fork(fileURLToPath(new URL('./bridge-process.ts', import.meta.url)), [], {
    // BRIDGE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the bridge alone.
    execArgv: ['--import', 'tsx', ...(process.env.BRIDGE_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const request = async <T>(msg: unknown, answer: string): Promise<T> => {
    const got = new Promise<T>((resolve, reject) => {
      const onMsg = (raw: unknown) => {
        const m = raw as { type: string; message?: string };
        if (m.type === answer) {
          child.off('message', onMsg);
          resolve(m as T);
        } else if (m.type === 'error') {
          child.off('message', onMsg);
          reject(new Error(`bridge process: ${m.message}`));
        }
      };
      child.on('message', onMsg);
      child.once('exit', (code) => reject(new Error(`bridge process exited (${code})`)));
    });
    child.send(msg as object);
    return got;
  };
  const start: BridgeStartOrder = { type: 'start', redisUrl: redis.url, simPort, clientId, clientSecret, overrides };
  const { syslogPort } = await request<{ syslogPort: number }>(start, 'ready');
  const info = new Redis(redis.url, { lazyConnect: true });
  await info.connect();
  return {
    syslogPort,
    sim,
    redis,
    bridgeStats: async () => (await request<{ stats: BridgeStats }>({ type: 'stats' }, 'stats')).stats,
    async redisMemory() {
      const text = await info.info('memory');
      const field = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
      return { used: field('used_memory'), peak: field('used_memory_peak') };
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
