import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/ops/metrics.js';
import { mergeMetrics } from '../../../src/threads/metrics.js';
import { createThreadMetrics } from '../../../src/threads/thread-metrics.js';

type Op =
  { kind: 'inc'; n: number; child: boolean } | { kind: 'set'; n: number } | { kind: 'incPlain'; n: number } | { kind: 'touch' };

/** Applies one operation to a labelled counter, a gauge, a plain counter or a child never counted. */
function apply(m: Metrics, op: Op, transport: string): void {
  if (op.kind === 'inc') {
    if (op.child) m.received.labels({ transport }).inc(op.n);
    else m.received.inc({ transport }, op.n);
  } else if (op.kind === 'set') m.handoffDepth.set(op.n);
  else if (op.kind === 'incPlain') m.relayed.inc(op.n);
  else m.dropped.labels({ transport, reason: 'bad_frame' });
}

/** Counters and gauges of a snapshot, values in a stable order (histograms are the main thread's). */
const comparable = (json: Awaited<ReturnType<Metrics['registry']['getMetricsAsJSON']>>) =>
  json
    .filter((m) => String(m.type) !== 'histogram')
    .map((m) => ({
      name: m.name,
      help: m.help,
      type: m.type,
      aggregator: m.aggregator,
      values: [...m.values]
        .map((v) => ({ value: v.value, labels: v.labels }))
        .sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels))),
    }));

describe('thread metrics', () => {
  it('snapshot as prom-client would give it, for any sequence of counts and gauge settings', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('inc' as const), n: fc.nat(1000), child: fc.boolean() }),
      fc.record({ kind: fc.constant('set' as const), n: fc.integer({ min: -5, max: 5000 }) }),
      fc.record({ kind: fc.constant('incPlain' as const), n: fc.nat(1000) }),
      fc.record({ kind: fc.constant('touch' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(op, fc.constantFrom('udp', 'tcp', 'tls')), { maxLength: 30 }), async (ops) => {
        const real = createMetrics();
        const light = createThreadMetrics();
        for (const [o, t] of ops) {
          apply(real, o, t);
          apply(light, o, t);
        }
        const want = comparable(await real.registry.getMetricsAsJSON());
        expect(comparable(await light.registry.getMetricsAsJSON())).toEqual(want);
      }),
      { numRuns: 100 },
    );
  });

  it('sums into the main registry as a prom-client registry of the thread did', async () => {
    const main = createMetrics();
    const thread = createThreadMetrics();
    main.received.inc({ transport: 'udp' }, 2);
    thread.received.labels({ transport: 'udp' }).inc(3);
    thread.dropped.inc({ transport: 'udp', reason: 'queue_full' });
    const merged = await mergeMetrics(main.registry, [await thread.registry.getMetricsAsJSON()]);
    const text = await merged.metrics();
    expect(text).toContain('ptim_syslog_received_total{transport="udp"} 5');
    expect(text).toContain('ptim_syslog_dropped_total{transport="udp",reason="queue_full"} 1');
  });
});
