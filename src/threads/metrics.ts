// One /metrics for all threads: each thread counts in its own prom-client registry and answers a
// snapshot request with getMetricsAsJSON(); the main thread sums them with its own registry
// (AggregatorRegistry.aggregate, as prom-client does for cluster workers) on every scrape.
import { AggregatorRegistry, type Registry } from 'prom-client';

export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** The main registry plus every thread's snapshot, summed metric by metric. */
export async function mergeMetrics(main: Registry, snapshots: readonly MetricsSnapshot[]): Promise<Registry> {
  // Process metrics exist only in the main registry; 'omit' (process_start_time) would drop them.
  const own = (await main.getMetricsAsJSON()).map((m) => (m.aggregator === 'omit' ? { ...m, aggregator: 'first' as const } : m));
  return AggregatorRegistry.aggregate([own, ...snapshots]);
}
