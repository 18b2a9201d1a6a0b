// End-to-end harness: a private redis-server, JIMS simulator(s) and the assembled bridge
// (createApp) on loopback ports chosen by the kernel, with a manual clock the test advances
// (so "a repeated UP after the duplicate window" needs no sleeping) and bounded condition waits.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createApp, type App, type AppDeps } from '../../../src/app.js';
import { SHIPPED_PATTERNS_DIR } from '../../../src/cli/demo.js';
import { sendLines } from '../../../src/cli/send.js';
import { configSchema, type Config } from '../../../src/config/schema.js';
import { createJimsSimulator, type JimsSimOptions, type JimsSimulator } from '../../../src/jims-sim/simulator.js';
import type { SimOpLogEntry } from '../../../src/jims-sim/state.js';
import { createLogger, silentLogger } from '../../../src/log.js';
import { createMetrics, type Metrics } from '../../../src/ops/metrics.js';
import type { Clock } from '../../../src/types.js';
import { waitFor as waitForCondition, type WaitOptions } from '../../helpers/wait.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';

export { startRedis, type TestRedis } from '../../helpers/redis.js';

export { vpnLine } from '../../../src/demo/lines.js';

export const CLIENT = { clientId: 'ptim-e2e', clientSecret: 'e2e-secret-not-real' };

/**
 * The push body carries `seq` and `event`, so the simulator's operation log can be checked
 * against the bridge's per-IP order. Same content type and fields as the built-in userfw-json.
 */
export const SEQ_TEMPLATE =
  '{"userfw-entries":{"userfw-entry":[{"source":"{{source}}","timestamp":"{{timestamp}}",' +
  '"operation":"{{operation}}","IP":"{{ip}}","domain":"{{domain}}","user":"{{user}}",' +
  '"event":"{{event}}","seq":"{{seq}}"}]}}';

export interface ManualClock extends Clock {
  advance(ms: number): void;
}

/** Starts at the real time (BullMQ and Redis TTLs use real time; event ages stay small). */
export function manualClock(start = Date.now()): ManualClock {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** Polls `cond` until it holds or `timeoutMs` passes; the failure names what was awaited. */
export const waitFor = (cond: () => boolean | Promise<boolean>, opts: WaitOptions = {}) =>
  waitForCondition(cond, { intervalMs: 20, ...opts });

/** Sum of a counter/gauge's values whose labels include `labels`. */
export async function metricValue(
  metrics: Pick<Metrics, 'registry'>,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((s, v) => s + v.value, 0);
}

/** Parses Prometheus text exposition: `name{labels}` → value (labels as written, sorted by prom-client). */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

export type Truth = Map<string, { user: string; domain: string }>;
export interface LineSpec {
  kind: 'up' | 'down';
  user: string;
  ip: string;
}

/** What JIMS must end with: per IP, the last UP's owner unless that owner's DOWN came after it. */
export function truthOf(lines: readonly LineSpec[], domain = 'example.com'): Truth {
  const t: Truth = new Map();
  for (const l of lines) {
    const user = l.user.split('@')[0] ?? l.user;
    if (l.kind === 'up') t.set(l.ip, { user, domain });
    else if (t.get(l.ip)?.user === user) t.delete(l.ip);
  }
  return t;
}

export function tableOf(sim: JimsSimulator): Truth {
  return new Map(Object.entries(sim.identities()).map(([ip, v]) => [ip, { user: v.user, domain: v.domain }]));
}

export function sameTable(a: Truth, b: Truth): boolean {
  if (a.size !== b.size) return false;
  for (const [ip, v] of a) {
    const w = b.get(ip);
    if (!w || w.user !== v.user || w.domain !== v.domain) return false;
  }
  return true;
}

export const show = (t: Truth) => Object.fromEntries([...t].sort(([a], [b]) => a.localeCompare(b)));

/** Pairs of ops where an older seq was applied after a newer one for the same IP (should be none). */
export function orderViolations(ops: readonly SimOpLogEntry[]): string[] {
  const highest = new Map<string, number>();
  const out: string[] = [];
  for (const op of ops) {
    const seq = Number(op.seq);
    if (!Number.isFinite(seq)) {
      out.push(`${op.ip}: operation without seq`);
      continue;
    }
    const hi = highest.get(op.ip) ?? 0;
    if (seq < hi) out.push(`${op.ip}: seq ${seq} (${op.op} ${op.user}) applied after seq ${hi}`);
    highest.set(op.ip, Math.max(hi, seq));
  }
  return out;
}

/** Delivery accounting from the metrics: every identity event ended delivered, superseded or failed. */
export async function accounting(metrics: Metrics) {
  const events = await metricValue(metrics, 'ptim_identity_events_total');
  const delivered = await metricValue(metrics, 'ptim_push_total', { outcome: 'delivered' });
  const superseded = await metricValue(metrics, 'ptim_push_total', { outcome: 'superseded' });
  const permanent = await metricValue(metrics, 'ptim_push_total', { outcome: 'permanent' });
  const retries = await metricValue(metrics, 'ptim_push_total', { outcome: 'retry' });
  return { events, delivered, superseded, permanent, retries, settled: delivered + superseded + permanent === events };
}

export interface SimHandle {
  readonly sim: JimsSimulator;
  readonly port: number;
}

export async function startSim(opts: Partial<JimsSimOptions> = {}): Promise<SimHandle> {
  const sim = createJimsSimulator({
    clients: [CLIENT],
    push: { template: templateFile() },
    ...opts,
  });
  const { port } = await sim.listen(0, '127.0.0.1');
  return { sim, port };
}

let templateDir: string | undefined;
/** The seq-carrying template as a file (templates are files or built-in names). */
export function templateFile(): string {
  if (!templateDir) {
    templateDir = mkdtempSync(join(tmpdir(), 'ptim-e2e-'));
    writeFileSync(join(templateDir, 'push.json'), SEQ_TEMPLATE);
    process.on('exit', () => rmSync(templateDir!, { recursive: true, force: true }));
  }
  return join(templateDir, 'push.json');
}

/** Bridge config for tests: loopback listeners on port 0, fast retries, short JIMS timeout. */
export function e2eConfig(redis: TestRedis, primaryPort: number | undefined, overrides: Record<string, unknown> = {}): Config {
  const base: Record<string, unknown> = {
    ingest: {
      udp: { bind: ['127.0.0.1'], port: 0 },
      tcp: { bind: ['127.0.0.1'], port: 0 },
      allowedSources: ['127.0.0.0/8', '::1/128'],
      // The test process hosts several bridges and the test itself: keep its priority.
      deliveryNice: 0,
    },
    patterns: { dirs: [SHIPPED_PATTERNS_DIR], watch: false },
    identity: { defaultDomain: 'example.com' },
    redis: { url: redis.url, keyPrefix: redis.keyPrefix },
    queue: { retryBaseDelaySecs: 0.01, retryMaxDelaySecs: 0.05, ipLockTtlSecs: 2, concurrency: 8 },
    jims: {
      ...(primaryPort !== undefined ? { primary: { host: '127.0.0.1', port: primaryPort, scheme: 'http', ...CLIENT } } : {}),
      requestTimeoutSecs: 0.3,
      push: { template: templateFile() },
    },
    ops: { host: '127.0.0.1', port: 0 },
  };
  return configSchema.parse(merge(base, overrides));
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export interface Bridge {
  readonly app: App;
  readonly metrics: Metrics;
  readonly clock: ManualClock;
  udpPort(): number;
  tcpPort(): number;
  opsUrl(): string;
  /** Sends lines as a firewall on 127.0.0.1 would. */
  send(lines: readonly (string | Buffer)[], transport?: 'udp' | 'tcp'): Promise<void>;
  /** Resolves when every line received so far has been matched and applied to Redis by the session engine. */
  applied(): Promise<void>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

export async function startBridge(
  config: Config,
  clock: ManualClock = manualClock(),
  extra: Partial<Pick<AppDeps, 'libraryHook' | 'logger'>> = {},
): Promise<Bridge> {
  const metrics = createMetrics();
  // PTIM_TEST_LOG=debug (or info, warn) shows the bridge's own log while a test runs.
  const level = process.env.PTIM_TEST_LOG;
  const logger = level ? createLogger({ level }) : silentLogger;
  const app = await createApp(config, { logger, metrics, clock, ...extra });
  await app.start();
  const port = (t: 'udp' | 'tcp') => {
    const a = app.addresses().syslog.find((x) => x.transport === t);
    if (!a) throw new Error(`no ${t} listener`);
    return a.port;
  };
  let stopped = false;
  return {
    app,
    metrics,
    clock,
    udpPort: () => port('udp'),
    tcpPort: () => port('tcp'),
    opsUrl: () => `http://127.0.0.1:${app.addresses().ops?.port ?? 0}`,
    send: (lines, transport = 'udp') => sendLines(lines, { host: '127.0.0.1', port: port(transport), transport }),
    applied: () => app.drain(),
    // Receiving and matching count in their own threads: read what /metrics would show.
    metric: async (name, labels) => metricValue({ registry: await app.metricsRegistry() }, name, labels),
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.stop();
    },
  };
}

/** Waits until `n` syslog messages were received (over any transport): sends are asynchronous. */
export async function waitReceived(b: Bridge, n: number, timeoutMs = 5000): Promise<void> {
  await waitFor(async () => (await b.metric('ptim_syslog_received_total')) >= n, { timeoutMs, what: `${n} received messages` });
}

/** A file's shared stack: a private Redis and a JIMS simulator, and the bridges started on them. */
export interface Stack {
  readonly redis: TestRedis;
  readonly jims: SimHandle;
  /** Starts a bridge that the file's afterAll stops (before the simulator and Redis). */
  bridge(config: Config, clock?: ManualClock, extra?: Parameters<typeof startBridge>[2]): Promise<Bridge>;
}

/**
 * Registers the file's stack: beforeAll starts Redis and the simulator, afterAll stops every bridge
 * started through it (last first), then the simulator and Redis. Register it before the hooks that use it.
 */
export function useStack(opts: { redis?: Parameters<typeof startRedis>[0]; sim?: Partial<JimsSimOptions> } = {}): Stack {
  let redis: TestRedis | undefined;
  let jims: SimHandle | undefined;
  const bridges: Bridge[] = [];
  const started = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`the stack's ${what} is not started yet (use it in a hook or test)`);
    return v;
  };
  beforeAll(async () => {
    redis = await startRedis(opts.redis);
    jims = await startSim(opts.sim);
  });
  afterAll(async () => {
    for (const b of bridges.reverse()) await b.stop();
    await jims?.sim.close();
    await redis?.stop();
  });
  return {
    get redis() {
      return started(redis, 'Redis');
    },
    get jims() {
      return started(jims, 'JIMS simulator');
    },
    async bridge(config, clock, extra) {
      const b = await startBridge(config, clock, extra);
      bridges.push(b);
      return b;
    },
  };
}
