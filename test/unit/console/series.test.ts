import { describe, expect, it } from 'vitest';
import { createSampler, quantileMs } from '../../../src/console/series.js';
import { createMetrics } from '../../../src/ops/metrics.js';

describe('health chart sampler', () => {
  it('turns counter differences into rates and histogram differences into quantiles', async () => {
    let now = 1_000_000;
    const metrics = createMetrics();
    const s = createSampler({ metrics, clock: { now: () => now }, intervalMs: 5000, points: 3 });
    await s.sample(); // the baseline: no point yet
    expect(s.series()).toEqual([]);
    metrics.received.inc({ transport: 'udp' }, 40);
    metrics.received.inc({ transport: 'tcp' }, 10);
    metrics.pushes.inc({ outcome: 'delivered' }, 20);
    metrics.pushes.inc({ outcome: 'retry' }, 5);
    metrics.pushes.inc({ outcome: 'superseded' }, 7);
    for (let i = 0; i < 9; i++) metrics.eventLatency.observe(0.02);
    metrics.eventLatency.observe(3);
    now += 5000;
    await s.sample();
    expect(s.series()).toEqual([
      { at: now, receivedPerSec: 10, eventsPerSec: 0, deliveredPerSec: 4, failedPerSec: 1, latencyP50Ms: 25, latencyP95Ms: 5000 },
    ]);
    for (let i = 0; i < 4; i++) {
      now += 5000;
      await s.sample();
    }
    expect(s.series()).toHaveLength(3); // bounded
    expect(s.series().at(-1)).toMatchObject({ receivedPerSec: 0, latencyP50Ms: null });
  });

  it('reads a quantile as the smallest bucket bound that holds it', () => {
    const prev = new Map([
      [0.01, 0],
      [0.1, 0],
      [Infinity, 0],
    ]);
    const cur = new Map([
      [0.01, 1],
      [0.1, 9],
      [Infinity, 10],
    ]);
    expect(quantileMs(prev, cur, 0.5)).toBe(100);
    expect(quantileMs(prev, cur, 0.1)).toBe(10);
    expect(quantileMs(prev, cur, 0.99)).toBeNull(); // beyond the last finite bucket
    expect(quantileMs(cur, cur, 0.5)).toBeNull(); // nothing observed
  });
});
