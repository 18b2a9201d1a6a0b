import { describe, expect, it } from 'vitest';
import { PushBatcher } from '../../../src/jims/batcher.js';
import type { PushOutcome } from '../../../src/types.js';

const ok: PushOutcome = { result: 'delivered', status: 200, server: 'primary' };
const refused: PushOutcome = { result: 'permanent', reason: 'http:400', status: 400, server: 'primary' };

/** A batcher over numbers; `bad` numbers make any request holding them refused with `refusal`. */
function setup(opts: { maxEntries?: number; bad?: number[]; refusal?: PushOutcome; group?: (n: number) => string | undefined }) {
  const requests: number[][] = [];
  const b = new PushBatcher<number, string>({
    maxEntries: opts.maxEntries ?? 50,
    groupOf: opts.group ?? (() => 'g'),
    send: async (items) => {
      requests.push([...items]);
      return items.some((i) => opts.bad?.includes(i)) ? (opts.refusal ?? refused) : ok;
    },
  });
  return { b, requests };
}

describe('PushBatcher', () => {
  it('sends the pushes of one turn as one request, in arrival order, within maxEntries', async () => {
    const { b, requests } = setup({ maxEntries: 3 });
    const outcomes = await Promise.all([1, 2, 3, 4, 5].map((n) => b.push(n)));
    expect(outcomes).toEqual([ok, ok, ok, ok, ok]);
    expect(requests).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('keeps groups apart and sends an ungrouped push alone', async () => {
    const { b, requests } = setup({ group: (n) => (n === 0 ? undefined : n % 2 ? 'odd' : 'even') });
    await Promise.all([0, 1, 2, 3, 4].map((n) => b.push(n)));
    expect(requests).toEqual([[0], [1, 3], [2, 4]]);
  });

  it('splits a refused request in halves, in order, until the bad entry stands alone', async () => {
    const { b, requests } = setup({ bad: [6] });
    const outcomes = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => b.push(n)));
    expect(outcomes.map((o) => o.result)).toEqual([
      'delivered',
      'delivered',
      'delivered',
      'delivered',
      'delivered',
      'permanent',
      'delivered',
      'delivered',
    ]);
    expect(requests).toEqual([[1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4], [5, 6, 7, 8], [5, 6], [5], [6], [7, 8]]);
  });

  it('does not split on a retryable answer or an auth refusal: every entry gets it', async () => {
    const retry: PushOutcome = { result: 'retry', reason: 'http:503', server: 'primary' };
    const r = setup({ bad: [2], refusal: retry });
    expect(await Promise.all([1, 2, 3].map((n) => r.b.push(n)))).toEqual([retry, retry, retry]);
    expect(r.requests).toHaveLength(1);
    const auth: PushOutcome = { result: 'permanent', reason: 'auth-rejected:http:401', status: 401, server: 'primary' };
    const a = setup({ bad: [2], refusal: auth });
    expect(await Promise.all([1, 2, 3].map((n) => a.b.push(n)))).toEqual([auth, auth, auth]);
    expect(a.requests).toHaveLength(1);
  });

  it('a sender that throws gives every entry a retry', async () => {
    const b = new PushBatcher<number, string>({
      maxEntries: 10,
      groupOf: () => 'g',
      send: () => Promise.reject(new Error('boom')),
    });
    const outcomes = await Promise.all([1, 2].map((n) => b.push(n)));
    expect(outcomes.map((o) => o.result)).toEqual(['retry', 'retry']);
  });
});
