// Recent throughput and latency for the health view's charts, taken from the bridge's own
// Prometheus metrics: every `intervalMs` the sampler reads the counters and the latency histogram,
// and keeps the last `points` differences (rates per second, latency quantiles of the interval).
import type { Metrics } from '../ops/metrics.js';
import type { Clock } from '../types.js';

export interface SeriesPoint {
  readonly at: number;
  /** Syslog messages received per second. */
  readonly receivedPerSec: number;
  /** Identity events written per second. */
  readonly eventsPerSec: number;
  /** Pushes delivered per second. */
  readonly deliveredPerSec: number;
  /** Push attempts that will be retried, or failed for good, per second. */
  readonly failedPerSec: number;
  /** Syslog → JIMS latency of the pushes delivered in the interval (bucket upper bounds), ms. */
  readonly latencyP50Ms: number | null;
  readonly latencyP95Ms: number | null;
}

export interface Sampler {
  series(): readonly SeriesPoint[];
  readonly intervalMs: number;
  sample(): Promise<void>;
  start(): void;
  stop(): void;
}

interface Snapshot {
  at: number;
  received: number;
  events: number;
  delivered: number;
  failed: number;
  /** Cumulative latency bucket counts by upper bound (seconds). */
  buckets: Map<number, number>;
}

async function sum(
  m: { get(): Promise<{ values: { value: number; labels: object }[] }> },
  pick?: (l: Record<string, unknown>) => boolean,
) {
  const { values } = await m.get();
  return values.filter((v) => !pick || pick(v.labels as Record<string, unknown>)).reduce((s, v) => s + v.value, 0);
}

async function snapshot(metrics: Metrics, at: number, receivedTotal?: () => Promise<number>): Promise<Snapshot> {
  const hist = await metrics.eventLatency.get();
  const buckets = new Map<number, number>();
  for (const v of hist.values) {
    const le = (v.labels as { le?: number | string }).le;
    if (v.metricName?.endsWith('_bucket') && le !== undefined) buckets.set(le === '+Inf' ? Infinity : Number(le), v.value);
  }
  return {
    at,
    received: receivedTotal ? await receivedTotal() : await sum(metrics.received),
    events: await sum(metrics.identityEvents),
    delivered: await sum(metrics.pushes, (l) => l.outcome === 'delivered'),
    failed: await sum(metrics.pushes, (l) => l.outcome === 'retry' || l.outcome === 'permanent'),
    buckets,
  };
}

/** The smallest bucket bound holding quantile `q` of the interval's observations (ms), or null when none. */
export function quantileMs(prev: ReadonlyMap<number, number>, cur: ReadonlyMap<number, number>, q: number): number | null {
  const bounds = [...cur.keys()].sort((a, b) => a - b);
  const total = (cur.get(Infinity) ?? 0) - (prev.get(Infinity) ?? 0);
  if (total <= 0) return null;
  for (const b of bounds) {
    if ((cur.get(b) ?? 0) - (prev.get(b) ?? 0) >= q * total) return Number.isFinite(b) ? b * 1000 : null;
  }
  return null;
}

export function createSampler(deps: {
  metrics: Metrics;
  clock: Clock;
  intervalMs?: number;
  points?: number;
  /** Syslog messages received so far, where the receivers count them (their own thread); default: `metrics.received`. */
  receivedTotal?: () => Promise<number>;
}): Sampler {
  const intervalMs = deps.intervalMs ?? 5000;
  const points = deps.points ?? 120;
  const out: SeriesPoint[] = [];
  let last: Snapshot | undefined;
  let timer: NodeJS.Timeout | undefined;
  const sample = async () => {
    const cur = await snapshot(deps.metrics, deps.clock.now(), deps.receivedTotal);
    if (last && cur.at > last.at) {
      const secs = (cur.at - last.at) / 1000;
      const rate = (a: number, b: number) => Math.max(0, (a - b) / secs);
      out.push({
        at: cur.at,
        receivedPerSec: rate(cur.received, last.received),
        eventsPerSec: rate(cur.events, last.events),
        deliveredPerSec: rate(cur.delivered, last.delivered),
        failedPerSec: rate(cur.failed, last.failed),
        latencyP50Ms: quantileMs(last.buckets, cur.buckets, 0.5),
        latencyP95Ms: quantileMs(last.buckets, cur.buckets, 0.95),
      });
      if (out.length > points) out.splice(0, out.length - points);
    }
    last = cur;
  };
  return {
    intervalMs,
    series: () => out,
    sample,
    start() {
      void sample();
      timer ??= setInterval(() => void sample(), intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
