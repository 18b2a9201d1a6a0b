// The bridge's metrics in prom-client, as the main thread (and every command) counts them; the
// definitions are in metric-defs.ts. Components receive the Metrics object; tests build their own
// with a fresh registry and read values back.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { defineMetrics, type MetricFactory, type Metrics } from './metric-defs.js';

export type { Metrics } from './metric-defs.js';

function factory(registry: Registry): MetricFactory {
  const registers = [registry];
  return {
    counter: <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Counter<L>({ name, help, labelNames: [...labelNames], registers }),
    gauge: <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Gauge<L>({ name, help, labelNames: [...labelNames], registers }),
    histogram: <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]) =>
      new Histogram<L>({ name, help, labelNames: [...labelNames], buckets: [...buckets], registers }),
  };
}

export function createMetrics(registry: Registry = new Registry(), opts: { processMetrics?: boolean } = {}): Metrics {
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'ptim_' });
  return { registry, ...defineMetrics(factory(registry)) };
}
