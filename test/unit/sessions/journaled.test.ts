// The journal in front of the engine, with a stand-in engine whose "Redis" the test turns on and
// off: events spill to disk when the engine's memory window is full, reach the engine in order
// with their journal ids, are acknowledged once applied, and what was never applied is replayed
// by the next start.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/log.js';
import { createMetrics, type Metrics } from '../../../src/ops/metrics.js';
import type { EngineFront } from '../../../src/sessions/engine.js';
import { openJournaledEngine } from '../../../src/sessions/journaled.js';
import type { VpnEvent } from '../../../src/types.js';
import { waitFor } from '../../helpers/wait.js';

/** An engine whose Redis applies submissions only while `up`. */
function fakeEngine() {
  const received: { user: string; journalId?: number }[] = [];
  let applied = 0;
  let up = false;
  let waiters: { target: number; resolve: () => void }[] = [];
  const settle = () => {
    if (up) applied = received.length;
    waiters = waiters.filter((w) => (applied >= w.target ? (w.resolve(), false) : true));
  };
  const engine: EngineFront = {
    submit(event) {
      received.push({ user: event.user, journalId: event.journal?.id });
      queueMicrotask(settle);
    },
    drain() {
      const target = received.length;
      return new Promise<void>((resolve) => {
        waiters.push({ target, resolve });
        settle();
      });
    },
    ready: () => up,
    close: async () => {
      for (const w of waiters) w.resolve();
      waiters = [];
    },
  };
  return {
    engine,
    received,
    held: () => received.length - applied,
    setUp(v: boolean) {
      up = v;
      settle();
    },
  };
}

const event = (user: string): VpnEvent => ({
  kind: 'up',
  user,
  domain: 'example.com',
  ips: ['192.0.2.1'],
  firewall: 'srx-a',
  patternId: 'test',
  receivedAt: 1_700_000_000_000,
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function open(dir: string, fake: ReturnType<typeof fakeEngine>, over: Record<string, unknown> = {}) {
  const metrics = createMetrics();
  const cfg = { ...defaultConfig().sessions, journalDir: dir, bufferMaxEvents: 4, journalFsync: 'always' as const, ...over };
  const j = await openJournaledEngine(fake.engine, cfg, { metrics, logger: silentLogger, clock: { now: () => 0 } });
  j.start();
  return { j, metrics };
}

const value = async (metrics: Metrics, name: string) =>
  (await metrics.registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;

describe('journal in front of the session engine', () => {
  it('spills past the engine window to disk, feeds the engine in order once Redis applies, and acknowledges', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptim-jnl-'));
    dirs.push(dir);
    const fake = fakeEngine();
    const { j, metrics } = await open(dir, fake);
    const users = Array.from({ length: 30 }, (_, i) => `u${i}`);
    for (const u of users) j.submit(event(u), `c-${u}`);
    // Redis is down: the engine holds at most its window, the rest waits in the journal.
    expect(fake.received.length).toBeLessThanOrEqual(4);
    await waitFor(async () => (await value(metrics, 'ptim_session_journal_events')) === 30, { what: '30 journaled events' });

    fake.setUp(true);
    await j.drain();
    expect(fake.received.map((r) => r.user)).toEqual(users);
    const ids = fake.received.map((r) => r.journalId!);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    await waitFor(async () => (await value(metrics, 'ptim_session_journal_events')) === 0, { what: 'all acknowledged' });
    expect(await j.closeJournal()).toBe(0);
  });

  it('what Redis never applied is replayed by the next start, in order, under the same journal ids', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptim-jnl-'));
    dirs.push(dir);
    const first = fakeEngine();
    const a = await open(dir, first);
    for (const u of ['a', 'b', 'c', 'd', 'e', 'f']) a.j.submit(event(u), `c-${u}`);
    first.setUp(true);
    await a.j.drain(); // a..f applied
    first.setUp(false);
    for (const u of ['g', 'h', 'i', 'j', 'k', 'l', 'm']) a.j.submit(event(u), `c-${u}`);
    expect(await a.j.closeJournal()).toBe(7);

    const second = fakeEngine();
    second.setUp(true);
    const b = await open(dir, second);
    await b.j.drain();
    await waitFor(() => second.received.length === 7, { what: 'the replay' });
    expect(second.received.map((r) => r.user)).toEqual(['g', 'h', 'i', 'j', 'k', 'l', 'm']);
    // The four the first engine held (unapplied) come back under the ids Redis would know them by.
    const ids = second.received.map((r) => r.journalId!);
    expect(ids.slice(0, 4)).toEqual(first.received.slice(6).map((r) => r.journalId));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(await value(b.metrics, 'ptim_session_journal_replayed_total')).toBe(7);
    // New events come after the replay, with larger ids.
    b.j.submit(event('n'), 'c-n');
    await b.j.drain();
    expect(second.received.at(-1)!.journalId).toBeGreaterThan(second.received[6]!.journalId!);
    await b.j.closeJournal();
  });

  it('a full journal drops the oldest, counts them and says so in its status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ptim-jnl-'));
    dirs.push(dir);
    const fake = fakeEngine();
    const { j, metrics } = await open(dir, fake, { journalMaxBytes: 64 * 1024 });
    expect(j.status().ok).toBe(true);
    for (let i = 0; i < 2000; i++) {
      j.submit(event(`user-${i}-${'x'.repeat(40)}`), `c${i}`);
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }
    await waitFor(async () => (await value(metrics, 'ptim_session_journal_dropped_total')) > 0, { what: 'dropped oldest' });
    expect(await value(metrics, 'ptim_session_journal_bytes')).toBeLessThanOrEqual(64 * 1024);
    expect(j.status()).toMatchObject({ ok: false, detail: expect.stringMatching(/journal full: \d+ oldest/) });
    fake.setUp(true);
    await j.drain();
    // The newest survived: the last events reached the engine; every event reached it or was counted.
    expect(fake.received.at(-1)!.user).toMatch(/^user-1999-/);
    expect(fake.received.length + (await value(metrics, 'ptim_session_journal_dropped_total'))).toBe(2000);
    await j.closeJournal();
  });
});
