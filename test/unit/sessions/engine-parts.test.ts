// The session engine's pure parts, alone: an event's inputs and the submission buffer.
import { describe, expect, it } from 'vitest';
import { eventInputs, SubmissionBuffer } from '../../../src/sessions/engine.js';
import type { VpnEvent } from '../../../src/types.js';
import { line } from './table.js';

const vpn = (ips: string[]): VpnEvent => ({
  kind: 'up',
  user: 'alice',
  domain: 'example.com',
  ips,
  firewall: 'srx-a',
  patternId: 'p',
  receivedAt: 1,
});

describe('eventInputs', () => {
  it('one input per IP, canonical text; what is not an IP is set apart', () => {
    const { inputs, badIps } = eventInputs(vpn(['192.0.2.1', '2001:DB8:0::1', 'nope']), 'c1');
    expect(inputs.map((i) => [i.ip, i.kind, i.user, i.correlationId])).toEqual([
      ['192.0.2.1', 'up', 'alice', 'c1'],
      ['2001:db8::1', 'up', 'alice', 'c1'],
    ]);
    expect(badIps).toEqual(['nope']);
  });
});

describe('SubmissionBuffer', () => {
  const setup = (max: number) => {
    const dropped: [number, string][] = [];
    const b = new SubmissionBuffer(max, 10, (item, why) => dropped.push([item.n, why]));
    const add = () => b.add(b.number('k', line('up')));
    return { b, add, dropped };
  };

  it('numbers inputs from firstN and hands them out in order, the batch in hand first', () => {
    const { b, add } = setup(10);
    add();
    add();
    add();
    expect(b.batch(2).map((i) => i.n)).toEqual([10, 11]);
    // Not applied yet: the same batch again (a retry re-sends it).
    expect(b.batch(2).map((i) => i.n)).toEqual([10, 11]);
    b.applied(1);
    expect(b.appliedThrough).toBe(11);
    expect(b.batch(2).map((i) => i.n)).toEqual([11]);
    b.applied(1);
    expect(b.batch(2).map((i) => i.n)).toEqual([12]);
  });

  it('when full drops the oldest unsent input, never the batch in hand', () => {
    const { b, add, dropped } = setup(3);
    add();
    add();
    b.batch(1); // n 10 in hand
    add();
    add(); // full: 11 goes
    expect(dropped).toEqual([[11, 'buffer full: dropped oldest']]);
    expect(b.depth).toBe(3);
    expect(b.takeAll().map((i) => i.n)).toEqual([10, 12, 13]);
  });

  it('wakes drain waiters as the applied mark moves', async () => {
    const { b, add } = setup(10);
    add();
    add();
    let drained = false;
    const waiting = b.waitFor(b.next).then(() => (drained = true));
    b.batch(10);
    b.applied(1);
    b.settle();
    expect(drained).toBe(false);
    b.applied(1);
    b.settle();
    await waiting;
    expect(drained).toBe(true);
    expect(b.appliedThrough).toBe(12);
  });

  it('wakes each waiter once its own target is reached, whatever order they came in', async () => {
    const { b, add } = setup(10);
    for (let i = 0; i < 4; i++) add();
    const woken: number[] = [];
    const wait = (target: number) => b.waitFor(target).then(() => woken.push(target));
    const all = [wait(14), wait(12), wait(13), wait(12)];
    b.batch(10);
    b.applied(2);
    b.settle();
    await new Promise((r) => setImmediate(r));
    expect(woken).toEqual([12, 12]);
    b.applied(2);
    b.settle();
    await Promise.all(all);
    expect(woken).toEqual([12, 12, 13, 14]);
  });
});
