import { describe, expect, it } from 'vitest';
import { FailoverState } from '../../../src/jims/failover.js';

const mk = (hasSecondary = true) => new FailoverState({ hasSecondary, failoverAfterFailures: 3, probeIntervalMs: 30_000 });

describe('FailoverState', () => {
  it('switches to the secondary after N consecutive failures on the primary', () => {
    const f = mk();
    expect(f.recordFailure('primary', 1)).toBeUndefined();
    expect(f.recordFailure('primary', 2)).toBeUndefined();
    expect(f.recordFailure('primary', 3)).toEqual({ from: 'primary', to: 'secondary', reason: '3 consecutive failures' });
    expect(f.active()).toBe('secondary');
  });

  it('a success in between resets the count', () => {
    const f = mk();
    f.recordFailure('primary', 1);
    f.recordFailure('primary', 2);
    f.recordSuccess('primary');
    f.recordFailure('primary', 3);
    f.recordFailure('primary', 4);
    expect(f.active()).toBe('primary');
  });

  it('never switches without a secondary', () => {
    const f = mk(false);
    for (let i = 0; i < 10; i++) expect(f.recordFailure('primary', i)).toBeUndefined();
    expect(f.active()).toBe('primary');
    expect(f.probeDue(1e9)).toBe(false);
  });

  it('late results from the previous server do not move the new one', () => {
    const f = mk();
    for (let i = 0; i < 3; i++) f.recordFailure('primary', 0);
    expect(f.recordFailure('primary', 1)).toBeUndefined();
    expect(f.failures()).toBe(0);
    f.recordFailure('secondary', 1);
    f.recordSuccess('primary');
    expect(f.failures()).toBe(1);
  });

  it('probes the primary every interval while on the secondary and reverts when it answers', () => {
    const f = mk();
    for (let i = 0; i < 3; i++) f.recordFailure('primary', 100_000);
    expect(f.probeDue(100_000 + 29_999)).toBe(false);
    expect(f.probeDue(130_000)).toBe(true);
    f.probeStarted(130_000);
    expect(f.probeDue(190_000)).toBe(false); // one probe at a time
    expect(f.probeFinished(false, 131_000)).toBeUndefined();
    expect(f.active()).toBe('secondary');
    expect(f.probeDue(160_999)).toBe(false);
    expect(f.probeDue(161_000)).toBe(true);
    f.probeStarted(161_000);
    expect(f.probeFinished(true, 161_500)).toEqual({ from: 'secondary', to: 'primary', reason: 'primary answered a probe' });
    expect(f.active()).toBe('primary');
    expect(f.probeDue(1e9)).toBe(false);
  });

  it('after reverting, it takes N fresh failures to fail over again', () => {
    const f = mk();
    for (let i = 0; i < 3; i++) f.recordFailure('primary', 0);
    f.probeStarted(30_000);
    f.probeFinished(true, 30_000);
    f.recordFailure('primary', 31_000);
    f.recordFailure('primary', 31_000);
    expect(f.active()).toBe('primary');
    expect(f.recordFailure('primary', 31_000)?.to).toBe('secondary');
  });
});
