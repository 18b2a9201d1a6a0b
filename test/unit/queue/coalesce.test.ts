import { describe, expect, it } from 'vitest';
import { Coalescer } from '../../../src/queue/coalesce.js';

describe('Coalescer', () => {
  it('sends the calls of one turn as one batch, in call order, each caller getting its own answer', async () => {
    const batches: number[][] = [];
    const c = new Coalescer<number, number>(async (xs) => {
      batches.push(xs);
      return xs.map((x) => x * 10);
    });
    const answers = await Promise.all([c.call(1), c.call(2), c.call(3)]);
    expect(answers).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
    expect(await c.call(4)).toBe(40);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('cuts a batch at maxBatch', async () => {
    const batches: number[][] = [];
    const c = new Coalescer<number, number>(async (xs) => {
      batches.push(xs);
      return xs;
    }, 2);
    await Promise.all([1, 2, 3, 4, 5].map((x) => c.call(x)));
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('fails every caller of a failed batch', async () => {
    const c = new Coalescer<number, number>(async () => {
      throw new Error('redis down');
    });
    const results = await Promise.allSettled([c.call(1), c.call(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
