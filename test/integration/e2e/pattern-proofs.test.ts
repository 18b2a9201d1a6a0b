// A new operator pattern in a running bridge: it loads and runs at once (no proof at start),
// its background proof (the real checker, on a tiny regex) refuses it, and it leaves the running
// library — counted, shown by /readyz until then, shared in Redis — and the next start refuses
// the library, as for any regex known to be unsafe.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SHIPPED_PATTERNS_DIR } from '../../../src/cli/demo.js';
import { verdictHashKey } from '../../../src/match/verdict-redis.js';
import { e2eConfig, startBridge, startRedis, waitFor, type Bridge, type TestRedis } from './harness.js';

const BAD = `patterns:
  - id: site-bad
    description: a nested quantifier (exponential), new and not proven yet
    kind: up
    tags: [KMD_VPN_UP_ALARM_USER]
    match: [SITE-UP]
    regex: '^SITE-UP\\ user=(?<user>(?:[a-z]+)+)\\ ip=(?<ip>[0-9.]+)$'
    examples:
      - line: '<30>Mar  3 14:02:11 fw kmd[1]: KMD_VPN_UP_ALARM_USER: SITE-UP user=alice ip=192.0.2.1'
        fields: { user: alice, ip: 192.0.2.1 }
`;

let redis: TestRedis;
let dir: string;
let bridge: Bridge | undefined;

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(path.join(tmpdir(), 'ptim-e2e-proofs-'));
  cpSync(SHIPPED_PATTERNS_DIR, path.join(dir, 'patterns'), { recursive: true });
  writeFileSync(path.join(dir, 'patterns', '30-site.yaml'), BAD);
});

afterAll(async () => {
  await bridge?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it(
  'runs a new pattern at once and, when its background proof refuses it, the matcher skips it',
  { timeout: 120_000 },
  async () => {
    const config = e2eConfig(redis, undefined, {
      roles: ['ingest'],
      patterns: { dirs: [path.join(dir, 'patterns')], watch: false, verdictCacheFile: path.join(dir, 'cache.json') },
    });
    bridge = await startBridge(config);
    const b = bridge;
    // Started at once with the new pattern unproven (the shipped ones were not proven again).
    await waitFor(async () => (await b.metric('ptim_pattern_proofs_total', { result: 'refused' })) === 1, {
      timeoutMs: 90_000,
      what: 'the background proof to refuse the pattern',
    });
    // The matcher thread skips it from now on: its own example line is a near miss.
    const misses = await b.metric('ptim_pattern_near_miss_total');
    await b.send(['<30>Mar  3 14:02:11 fw kmd[1]: KMD_VPN_UP_ALARM_USER: SITE-UP user=alice ip=192.0.2.1']);
    await waitFor(async () => (await b.metric('ptim_pattern_near_miss_total')) > misses, {
      what: 'the refused pattern no longer matching',
    });
    expect(await b.metric('ptim_pattern_matched_total', { pattern: 'site-bad' })).toBe(0);
    expect(await b.metric('ptim_pattern_proofs_pending')).toBe(0);
    const ready = (await (await fetch(`${b.opsUrl()}/readyz`)).json()) as {
      status: string;
      checks: { name: string; ok: boolean }[];
    };
    expect(ready.status).toBe('ready');
    expect(ready.checks.find((c) => c.name === 'pattern-proofs')?.ok).toBe(true);
    const r = new Redis(redis.url);
    expect(await r.hlen(verdictHashKey(redis.keyPrefix))).toBe(1);
    r.disconnect();
    await b.stop();
    bridge = undefined;

    // The verdict is stored: the next start refuses the library, without proving anything.
    await expect(startBridge(config)).rejects.toMatchObject({ code: 'PTIM_ERR_PATTERN' });
  },
);
