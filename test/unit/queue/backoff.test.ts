import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { retryDelayMs, seededRandom } from '../../../src/queue/backoff.js';
import { ipKeyOfJobId, pushJobOptions, UNLIMITED_ATTEMPTS } from '../../../src/queue/jobs.js';
import { ipKey, jobId } from '../../../src/redis/keys.js';

const policy = { baseDelayMs: 1000, maxDelayMs: 30_000 };

describe('retryDelayMs', () => {
  it('is full jitter over an exponential ceiling: random 0 → 0, random just below 1 → the ceiling', () => {
    expect(retryDelayMs(1, policy, () => 0)).toBe(0);
    expect(retryDelayMs(1, policy, () => 0.999999)).toBe(999);
    expect(retryDelayMs(3, policy, () => 0.999999)).toBe(3999);
    expect(retryDelayMs(3, policy, () => 0.5)).toBe(2000);
  });

  it('is capped at maxDelayMs, also for absurd attempt numbers', () => {
    expect(retryDelayMs(6, policy, () => 0.999999)).toBe(29_999);
    expect(retryDelayMs(10_000, policy, () => 0.999999)).toBe(29_999);
    expect(retryDelayMs(Number.MAX_SAFE_INTEGER, policy, () => 0.5)).toBe(15_000);
  });

  it('never retries before a server-given retryAfterMs, even beyond the cap', () => {
    expect(retryDelayMs(1, policy, () => 0, 5000)).toBe(5000);
    expect(retryDelayMs(1, policy, () => 0.999999, 500)).toBe(999);
    expect(retryDelayMs(1, policy, () => 0, 120_000)).toBe(120_000);
    expect(retryDelayMs(1, policy, () => 0, -5)).toBe(0);
    expect(retryDelayMs(1, policy, () => 0, Number.NaN)).toBe(0);
  });

  it('is reproducible with a seeded random and spreads delays', () => {
    const a = Array.from({ length: 5 }, (_, i) => retryDelayMs(i + 1, policy, seededRandom(42)));
    const b = Array.from({ length: 5 }, (_, i) => retryDelayMs(i + 1, policy, seededRandom(42)));
    expect(a).toEqual(b);
    const r = seededRandom(7);
    const many = new Set(Array.from({ length: 50 }, () => retryDelayMs(5, policy, r)));
    expect(many.size).toBeGreaterThan(40);
  });

  it('property: 0 ≤ delay ≤ max(min(cap, base·2^(n-1)), retryAfter), an integer', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.option(fc.integer({ min: 0, max: 10_000_000 }), { nil: undefined }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        (n, r, retryAfter, base, cap) => {
          const d = retryDelayMs(n, { baseDelayMs: base, maxDelayMs: cap }, () => r, retryAfter);
          const ceiling = Math.min(cap, base * 2 ** (n - 1));
          expect(Number.isInteger(d)).toBe(true);
          expect(d).toBeGreaterThanOrEqual(retryAfter ?? 0);
          expect(d).toBeLessThanOrEqual(Math.max(ceiling, retryAfter ?? 0));
        },
      ),
    );
  });
});

describe('push job ids and options', () => {
  it('recovers the ipKey from a job id, for IPv4, IPv6 and scoped keys', () => {
    for (const k of [ipKey('192.0.2.1'), ipKey('2001:db8::1'), ipKey('198.51.100.7', 'vr-blue')]) {
      expect(ipKeyOfJobId(jobId(k, 17))).toBe(k);
      expect(jobId(k, 17)).not.toContain(':');
    }
  });

  it('retries without a count limit, keeps failed jobs and a bounded number of completed ones', () => {
    const o = pushJobOptions({ keepCompletedJobs: 1000 }, '192.0.2.1', 3);
    expect(o).toMatchObject({
      jobId: '192.0.2.1-3',
      attempts: UNLIMITED_ATTEMPTS,
      removeOnFail: false,
      removeOnComplete: { count: 1000 },
    });
    expect(pushJobOptions({ keepCompletedJobs: 0 }, '192.0.2.1', 3).removeOnComplete).toBe(true);
  });
});
