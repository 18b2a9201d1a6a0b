import { describe, expect, it } from 'vitest';
import { allowedPauseMs, blockingSleep, BUFFER_BYTES_PER_PAUSE_MS, createReadPacer } from '../../../src/threads/read-pacer.js';
import { datagramsPerWakeup } from '../../../src/ingest/udp.js';

/** Node's dgram: 32 datagrams per wakeup at most. */
const DATAGRAMS_PER_WAKEUP = datagramsPerWakeup('dgram');

/** A pacer on a fake event loop: `endTurn` runs what the turn scheduled; calls are recorded in order. */
function harness(pauseMs: number, linesPerWakeup = DATAGRAMS_PER_WAKEUP) {
  const calls: string[] = [];
  let scheduled: (() => void)[] = [];
  const pacer = createReadPacer({
    pauseMs,
    linesPerWakeup,
    beforePause: () => calls.push('flush'),
    schedule: (f) => void scheduled.push(f),
    sleep: (ms) => void calls.push(`sleep ${ms}`),
  });
  const turn = (lines: number) => {
    for (let i = 0; i < lines; i++) pacer.line();
    const run = scheduled;
    scheduled = [];
    for (const f of run) f();
  };
  return { calls, turn, scheduledCount: () => scheduled.length, pacer };
}

describe('read pacer', () => {
  it('after a turn that drained the socket: hands off what it has, then sleeps pauseMs', () => {
    const h = harness(1);
    h.turn(3);
    expect(h.calls).toEqual(['flush', 'sleep 1']);
  });

  it('never pauses after a full read: more may be waiting', () => {
    const h = harness(1);
    h.turn(DATAGRAMS_PER_WAKEUP);
    h.turn(5 * DATAGRAMS_PER_WAKEUP);
    expect(h.calls).toEqual([]);
    h.turn(DATAGRAMS_PER_WAKEUP - 1);
    expect(h.calls).toEqual(['flush', 'sleep 1']);
  });

  it('with batched reads, a turn drained when it read fewer than the batches hold', () => {
    const perWakeup = datagramsPerWakeup('recvmmsg');
    expect(perWakeup).toBe(256);
    const h = harness(1, perWakeup);
    h.turn(perWakeup);
    expect(h.calls).toEqual([]);
    h.turn(100);
    expect(h.calls).toEqual(['flush', 'sleep 1']);
  });

  it('schedules its end-of-turn check once per turn, and nothing in a turn without lines', () => {
    const h = harness(2);
    for (let i = 0; i < 10; i++) h.pacer.line();
    expect(h.scheduledCount()).toBe(1);
    h.turn(0);
    h.turn(0);
    expect(h.calls).toEqual(['flush', 'sleep 2']);
  });

  it('does nothing at pauseMs 0', () => {
    const h = harness(0);
    h.turn(1);
    expect(h.scheduledCount()).toBe(0);
    expect(h.calls).toEqual([]);
  });

  it('blockingSleep blocks the calling thread for about that long', () => {
    const sleep = blockingSleep();
    const t0 = performance.now();
    sleep(5);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(4.5);
  });

  it('pauses only when every UDP receive buffer holds a pause worth of burst', () => {
    const mb = BUFFER_BYTES_PER_PAUSE_MS;
    expect(allowedPauseMs(1, [4 * mb, 8 * mb])).toBe(1);
    expect(allowedPauseMs(2, [2 * mb])).toBe(2);
    expect(allowedPauseMs(3, [2 * mb, 8 * mb])).toBe(0);
    // Linux's default net.core.rmem_max (208 KiB): no pauses.
    expect(allowedPauseMs(1, [212_992])).toBe(0);
    expect(allowedPauseMs(1, [])).toBe(1); // TCP only: nothing to overflow
    expect(allowedPauseMs(0, [4 * mb])).toBe(0);
  });
});
