// The bridge under test in its own process, as in production: createApp with the real clock,
// wired to a Redis and a JIMS simulator the parent started. Driven by bench/lib.ts over IPC
// (start → ready, stats → stats, stop → stopped); never run by hand.
import { createApp, type App } from '../src/app.js';
import { SHIPPED_PATTERNS_DIR } from '../src/cli/demo.js';
import { configSchema } from '../src/config/schema.js';
import { pino } from 'pino';
import { createLogger } from '../src/log.js';
import type { Registry } from 'prom-client';
import { createMetrics, type Metrics } from '../src/ops/metrics.js';
import { systemClock } from '../src/types.js';

export interface BridgeStartOrder {
  type: 'start';
  redisUrl: string;
  simPort: number;
  clientId: string;
  clientSecret: string;
  /** Deep-merged over the bench's config (e.g. `{ queue: { concurrency: 64 } }`). */
  overrides: Record<string, unknown>;
}

export interface BridgeStats {
  rss: number;
  heapUsed: number;
  /** Peaks sampled every 50 ms since the bridge was ready (start-up, e.g. the ReDoS check of the
   *  pattern library, is reported apart so it does not hide what the load costs). */
  peakRss: number;
  peakHeapUsed: number;
  startupPeakRss: number;
  startupPeakHeapUsed: number;
  /** Sum of a counter's values, by metric name. */
  counters: Record<string, number>;
  /** `ptim_syslog_dropped_total` by reason. */
  dropped: Record<string, number>;
  /** CPU time of the whole bridge process (every thread), microseconds. */
  cpuMicros: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
function merge(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isObj(v) && isObj(out[k]) ? merge(out[k] as Obj, v) : v;
  return out;
}

/** Every thread counts in its own registry: read the merged one, as /metrics does. */
async function sum(registry: Registry, metrics: Metrics, name: keyof Metrics): Promise<number> {
  const own = metrics[name] as { name?: string };
  const m = registry.getSingleMetric(own.name ?? '') as
    { get?: () => Promise<{ values: { value: number; metricName?: string }[] }> } | undefined;
  if (!m?.get) return 0;
  // Histograms report buckets too; their count is what we want.
  const values = (await m.get()).values.filter((v) => v.metricName === undefined || v.metricName.endsWith('_count'));
  return values.reduce((s, v) => s + v.value, 0);
}

/**
 * The bridge logs at the shipped level (info: an audit line per push outcome), so the
 * figures include what logging costs. Every line is written, as to stdout in production (one
 * synchronous write each), to /dev/null; warnings and errors also reach the bench's stderr.
 */
function benchLogDestination(): { write(line: string): void } {
  const devNull = pino.destination({ dest: '/dev/null', sync: true });
  return {
    write(line) {
      devNull.write(line);
      // `{"level":40,…`: the level's first digit is the 10th character.
      if (line.charCodeAt(9) >= 52) process.stderr.write(line);
    },
  };
}

let app: App | undefined;
const metrics = createMetrics();
const peak = { rss: 0, heapUsed: 0 };
const startupPeak = { rss: 0, heapUsed: 0 };
const sample = () => {
  const m = process.memoryUsage();
  peak.rss = Math.max(peak.rss, m.rss);
  peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
};
setInterval(sample, 50).unref();
// A bench that dies must not leave a bridge behind (after a clean stop the process ends by itself).
let stopped = false;
process.on('disconnect', () => {
  if (!stopped) process.exit(0);
});

/** Memory peaks, counters by name, drops by reason and CPU time of the whole process. */
async function collectStats(): Promise<BridgeStats> {
  sample();
  const m = process.memoryUsage();
  const registry = app ? await app.metricsRegistry() : metrics.registry;
  const counters: Record<string, number> = {};
  for (const name of ['received', 'vpnEvents', 'identityEvents', 'relayed', 'pushes', 'bufferDropped', 'kernelDrops'] as const)
    counters[name] = await sum(registry, metrics, name);
  const valuesOf = async (name: string) =>
    ((await registry.getSingleMetric(name)?.get())?.values ?? []) as { value: number; labels: Record<string, unknown> }[];
  const dropped: Record<string, number> = {};
  for (const v of await valuesOf('ptim_syslog_dropped_total'))
    dropped[String(v.labels.reason)] = (dropped[String(v.labels.reason)] ?? 0) + v.value;
  for (const v of await valuesOf('ptim_push_total')) counters[`push_${String(v.labels.outcome)}`] = v.value;
  const cpu = process.cpuUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    peakRss: peak.rss,
    peakHeapUsed: peak.heapUsed,
    startupPeakRss: startupPeak.rss,
    startupPeakHeapUsed: startupPeak.heapUsed,
    counters,
    dropped,
    cpuMicros: cpu.user + cpu.system,
  };
}

process.on('message', (raw) => {
  const msg = raw as BridgeStartOrder | { type: 'stats' } | { type: 'stop' };
  const reply = (v: unknown) => process.send!(v);
  void (async () => {
    if (msg.type === 'start') {
      const config = configSchema.parse(
        merge(
          {
            ingest: {
              udp: { bind: ['127.0.0.1'], port: 0 },
              tcp: { enabled: false },
              allowedSources: ['127.0.0.0/8'],
            },
            patterns: { dirs: [SHIPPED_PATTERNS_DIR], watch: false },
            identity: { defaultDomain: 'example.com' },
            redis: { url: msg.redisUrl },
            ops: { enabled: false },
            jims: {
              primary: {
                host: '127.0.0.1',
                port: msg.simPort,
                scheme: 'http',
                clientId: msg.clientId,
                clientSecret: msg.clientSecret,
              },
            },
          },
          msg.overrides,
        ),
      );
      app = await createApp(config, {
        logger: createLogger({ level: config.log.level }, benchLogDestination()),
        metrics,
        clock: systemClock,
      });
      await app.start();
      const udp = app.addresses().syslog.find((a) => a.transport === 'udp');
      sample();
      Object.assign(startupPeak, peak);
      peak.rss = 0;
      peak.heapUsed = 0;
      reply({ type: 'ready', syslogPort: udp?.port, receiveBufferBytes: udp?.receiveBufferBytes });
    } else if (msg.type === 'stats') {
      reply({ type: 'stats', stats: await collectStats() });
    } else if (msg.type === 'stop') {
      await app?.stop();
      stopped = true;
      reply({ type: 'stopped' });
      process.disconnect();
    }
  })().catch((e: unknown) => {
    reply({ type: 'error', message: (e as Error).stack ?? String(e) });
  });
});
