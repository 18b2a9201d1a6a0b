import { afterEach, describe, expect, it, vi } from 'vitest';
import { budget, within } from '../../../src/ops/grace.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('shutdown time budget', () => {
  it('within: true when the step settles in time (even by rejecting), false when the time runs out', async () => {
    vi.useFakeTimers();
    expect(await within(Promise.resolve(), 10)).toBe(true);
    expect(await within(Promise.reject(new Error('redis gone')), 10)).toBe(true);
    expect(await within(undefined, 0)).toBe(true);
    const never = within(new Promise(() => {}), 5000);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await never).toBe(false);
  });

  it('budget: what is left of the total, minus a reserve, never below zero', () => {
    let t = 1000;
    const left = budget(10_000, () => t);
    expect(left()).toBe(10_000);
    t += 4000;
    expect(left()).toBe(6000);
    expect(left(2000)).toBe(4000);
    t += 20_000;
    expect(left()).toBe(0);
  });
});
