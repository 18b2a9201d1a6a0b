// Defence in depth at run time: a pattern that backtracks catastrophically (injected through the
// test-only library hook, since the loader refuses such regexes) must not stall ingest. While the
// matcher thread is stuck on one line, /healthz answers and the receive thread goes on receiving;
// the watchdog then abandons that line, quarantines the pattern (metric, /readyz detail, Redis)
// and a new matcher delivers every line queued behind it.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { beforeAll, expect, it } from 'vitest';
import { keyspace } from '../../../src/redis/keys.js';
import { HOSTILE_ID, hostileLine } from '../../fixtures/hostile-library.js';
import { e2eConfig, manualClock, tableOf, useStack, vpnLine, waitFor, waitReceived, type Bridge } from './harness.js';

const stack = useStack();
let bridge: Bridge;

// Long enough that the checks below run while the line is still running, on a busy host too.
const MATCH_TIMEOUT_MS = 5000;

beforeAll(async () => {
  const hook = pathToFileURL(path.resolve('test/fixtures/hostile-library.ts')).href;
  bridge = await stack.bridge(
    e2eConfig(stack.redis, stack.jims.port, { patterns: { matchTimeoutMs: MATCH_TIMEOUT_MS } }),
    manualClock(),
    {
      libraryHook: hook,
    },
  );
}, 120_000);

const ups = (users: string[], net: number) => users.map((u, i) => vpnLine({ kind: 'up', user: u, ip: `10.${net}.0.${i + 1}` }));

it('a runaway pattern is abandoned and quarantined while /healthz answers and later lines are delivered', async () => {
  const first = ['ann', 'bob', 'cyd'];
  await bridge.send([hostileLine()]);
  await bridge.send(ups(first, 1));
  await waitReceived(bridge, 1 + first.length);
  // The lines behind the hostile one wait in the hand-off: the matcher is stuck on it.
  await waitFor(async () => (await bridge.metric('ptim_ingest_handoff_lines')) >= first.length, {
    what: 'lines queued behind it',
  });
  const health = await fetch(`${bridge.opsUrl()}/healthz`);
  expect(health.status).toBe(200);
  // Still stuck after /healthz answered: it answered during the runaway.
  expect(await bridge.metric('ptim_match_timeouts_total')).toBe(0);

  await waitFor(() => first.every((u) => [...tableOf(stack.jims.sim).values()].some((v) => v.user === u)), {
    timeoutMs: 90_000,
    what: 'the lines behind the runaway line delivered',
  });
  expect(await bridge.metric('ptim_match_timeouts_total')).toBe(1);
  expect(await bridge.metric('ptim_pattern_quarantined_total', { pattern: HOSTILE_ID })).toBe(1);
  expect(await bridge.metric('ptim_patterns_quarantined')).toBe(1);

  const ready = (await (await fetch(`${bridge.opsUrl()}/readyz`)).json()) as { checks: { name: string; detail?: string }[] };
  const detail = ready.checks.find((c) => c.name === 'pattern-quarantine')?.detail ?? '';
  expect(detail).toContain(HOSTILE_ID);
  expect(detail).toContain('A40P1'); // the line's shape, not the line
  expect(detail).not.toContain('a'.repeat(40));

  const r = new Redis(stack.redis.url, { lazyConnect: true });
  try {
    await r.connect();
    const stored = await r.hgetall(keyspace(stack.redis.keyPrefix).quarantine);
    expect(Object.keys(stored)).toEqual([expect.stringMatching(new RegExp(`^${HOSTILE_ID}:[0-9a-f]{16}$`))]);
  } finally {
    r.disconnect();
  }

  // From now on the pattern is skipped: the same line no longer runs away.
  const later = ['dee', 'eve'];
  await bridge.send([hostileLine(), ...ups(later, 2)]);
  await waitReceived(bridge, 1 + first.length + 1 + later.length);
  await bridge.applied();
  await waitFor(() => later.every((u) => [...tableOf(stack.jims.sim).values()].some((v) => v.user === u)), {
    what: 'lines after the quarantine delivered',
  });
  expect(await bridge.metric('ptim_match_timeouts_total')).toBe(1);
}, 180_000);
