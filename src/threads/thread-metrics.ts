// The metrics a worker thread counts in: the bridge's own definitions (ops/metric-defs.ts) built
// with plain counters and gauges instead of prom-client, whose module costs each thread about
// 9 MB of heap. A thread answers a snapshot request with the same JSON prom-client's
// getMetricsAsJSON() gives, so the main thread sums it with its own registry as before
// (threads/metrics.ts). Threads observe no histogram (push timings are the main thread's): a
// histogram here counts nothing and is left out of the snapshot.
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';
import { defineMetrics, type MetricFactory, type Metrics } from '../ops/metric-defs.js';

type Labels = Record<string, string | number>;
type Snapshot = MetricObjectWithValues<MetricValue<string>>;

/** One counter or gauge: a value per label set, in first-use order (as prom-client lists them). */
class PlainMetric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    private readonly labelNames: readonly string[],
  ) {
    this.reset();
  }

  private slot(labels: Labels): { labels: Labels; value: number } {
    const key = this.labelNames.map((n) => String(labels[n] ?? '')).join('\u0000');
    let s = this.values.get(key);
    if (!s) {
      const own: Labels = {};
      for (const n of this.labelNames) if (labels[n] !== undefined) own[n] = labels[n];
      s = { labels: own, value: 0 };
      this.values.set(key, s);
    }
    return s;
  }

  /** `inc()`, `inc(n)`, `inc(labels)`, `inc(labels, n)`, as prom-client takes them. */
  inc(a?: Labels | number, b?: number): void {
    if (typeof a === 'object') this.slot(a).value += b ?? 1;
    else this.slot({}).value += a ?? 1;
  }

  dec(a?: Labels | number, b?: number): void {
    if (typeof a === 'object') this.slot(a).value -= b ?? 1;
    else this.slot({}).value -= a ?? 1;
  }

  set(a: Labels | number, b?: number): void {
    if (typeof a === 'object') this.slot(a).value = b ?? 0;
    else this.slot({}).value = a;
  }

  /** A child for one label set: `labels({ transport: 'udp' })` or `labels('udp')`. Its series appears at its first count, as in prom-client. */
  labels(...args: (Labels | string | number)[]) {
    const labels: Labels =
      typeof args[0] === 'object' ? args[0] : Object.fromEntries(this.labelNames.map((n, i) => [n, args[i] as string]));
    let s: { value: number } | undefined;
    const at = () => (s ??= this.slot(labels));
    return {
      inc: (v = 1) => void (at().value += v),
      dec: (v = 1) => void (at().value -= v),
      set: (v: number) => void (at().value = v),
    };
  }

  reset(): void {
    this.values.clear();
    if (this.labelNames.length === 0) this.slot({});
  }

  snapshot(): Snapshot {
    const values = [...this.values.values()].map(({ labels, value }) => ({ value, labels: { ...labels } }));
    return { help: this.help, name: this.name, type: this.type, values, aggregator: 'sum' } as unknown as Snapshot;
  }

  get(): Promise<Snapshot> {
    return Promise.resolve(this.snapshot());
  }
}

/** The thread's metrics; `registry.getMetricsAsJSON()` is its snapshot. */
export function createThreadMetrics(): Metrics {
  const all: PlainMetric[] = [];
  const plain =
    (type: 'counter' | 'gauge') =>
    (name: string, help: string, labelNames: readonly string[] = []) => {
      const m = new PlainMetric(name, help, type, labelNames);
      all.push(m);
      return m;
    };
  const factory = {
    counter: plain('counter'),
    gauge: plain('gauge'),
    histogram: () => ({ observe: () => {}, startTimer: () => () => 0, labels: () => ({ observe: () => {} }) }),
  } as unknown as MetricFactory;
  const registry = { getMetricsAsJSON: () => Promise.resolve(all.map((m) => m.snapshot())) } as unknown as Registry;
  return { registry, ...defineMetrics(factory) };
}
