// The background prover and what serve does with its verdicts, with a scripted checker (no
// recheck here): one proof at a time, shared verdicts first, a timeout retried and never a
// refusal, a refusal removes the pattern from the running library.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Diagnostics } from 'recheck';
import { afterEach, describe, expect, it } from 'vitest';
import { mainLibrary } from '../../../src/app.js';
import { defaultConfig } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/log.js';
import { loadLibrary, type Library, type PendingProof } from '../../../src/match/library.js';
import { createPatternProofs } from '../../../src/match/proofs.js';
import { createProver } from '../../../src/match/prover.js';
import type { Verdict } from '../../../src/match/regex-safety.js';
import { createVerdictStore } from '../../../src/match/verdicts.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { waitFor } from '../../helpers/wait.js';

const SAFE = {
  source: '',
  flags: '',
  status: 'safe',
  checker: 'automaton',
  complexity: { type: 'safe', summary: 'safe', isFuzz: false },
} as Diagnostics;
const TIMEOUT = { source: '', flags: '', status: 'unknown', error: { kind: 'timeout' } } as Diagnostics;
const VULNERABLE = {
  source: '',
  flags: '',
  status: 'vulnerable',
  checker: 'automaton',
  complexity: { type: 'exponential', summary: 'exponential', isFuzz: false },
  attack: { pattern: "'a'.repeat(31)" },
  hotspot: [],
} as unknown as Diagnostics;

const proof = (patternId: string, key = `key-${patternId}`): PendingProof => ({
  patternId,
  key,
  source: '^a$',
  flags: '',
  file: 'f.yaml',
  line: 1,
});
const FAST_RETRY = { retry: { baseDelayMs: 1, maxDelayMs: 2 }, random: () => 0 };

/** A checker answering from a script, recording how many analyses ran at once. */
function scripted(answers: Diagnostics[]) {
  let running = 0;
  const stats = { calls: 0, maxConcurrent: 0 };
  return {
    stats,
    close: () => {},
    run: async () => {
      stats.calls++;
      running++;
      stats.maxConcurrent = Math.max(stats.maxConcurrent, running);
      await Promise.resolve();
      running--;
      return answers.shift() ?? SAFE;
    },
  };
}

function verdicts() {
  const got: [string, Verdict][] = [];
  let wake: () => void = () => {};
  return {
    got,
    onVerdict: (p: PendingProof, v: Verdict) => {
      got.push([p.patternId, v]);
      wake();
    },
    until: (n: number) =>
      new Promise<void>((resolve) => {
        wake = () => got.length >= n && resolve();
        wake();
      }),
  };
}

describe('background prover', () => {
  it('proves one regex at a time, stores each verdict, and counts down the pending', async () => {
    const checker = scripted([]);
    const store = createVerdictStore();
    const v = verdicts();
    const pending: number[] = [];
    const prover = createProver({ store, checker, onVerdict: v.onVerdict, onPendingChange: (n) => pending.push(n) });
    prover.request([proof('a'), proof('b'), proof('a2', 'key-a')]);
    expect(prover.pending()).toBe(2);
    expect(checker.stats.calls).toBe(0); // nothing runs before start()
    prover.start();
    await v.until(3);
    expect(v.got.map(([id]) => id).sort()).toEqual(['a', 'a2', 'b']);
    expect(checker.stats.maxConcurrent).toBe(1);
    expect(store.get('key-a')).toEqual({ status: 'safe' });
    expect(prover.pending()).toBe(0);
    expect(pending.at(-1)).toBe(0);
    prover.close();
  });

  it('retries a proof that ran out of time, and never turns it into a refusal', async () => {
    const checker = scripted([TIMEOUT, TIMEOUT, SAFE]);
    const v = verdicts();
    const retries: string[] = [];
    const prover = createProver({
      store: createVerdictStore(),
      checker,
      onVerdict: v.onVerdict,
      onRetry: (_p, reason) => retries.push(reason),
      ...FAST_RETRY,
    });
    prover.request([proof('slow')]);
    prover.start();
    await v.until(1);
    expect(retries).toEqual(['analysis timed out', 'analysis timed out']);
    expect(v.got).toEqual([['slow', { status: 'safe' }]]);
    prover.close();
  });

  it('retries a proof whose shared verdict could not be read (Redis down), and does not stall the queue', async () => {
    const v = verdicts();
    const retries: string[] = [];
    let fail = true;
    const prover = createProver({
      store: createVerdictStore(),
      checker: scripted([SAFE]),
      onVerdict: v.onVerdict,
      onRetry: (_p, reason) => retries.push(reason),
      ...FAST_RETRY,
    });
    prover.request([proof('shared')]);
    prover.start({
      get: async () => {
        if (fail) throw ((fail = false), new Error('Connection is closed.'));
        return undefined;
      },
      put: async () => {},
    });
    await v.until(1);
    expect(retries).toEqual([expect.stringContaining('Connection is closed.')]);
    expect(v.got).toEqual([['shared', { status: 'safe' }]]);
    prover.close();
  });

  it('takes a verdict another replica proved (Redis) instead of proving it again', async () => {
    const checker = scripted([]);
    const v = verdicts();
    const store = createVerdictStore();
    const prover = createProver({ store, checker, onVerdict: v.onVerdict });
    prover.request([proof('shared')]);
    prover.start({ get: async () => ({ status: 'safe' }), put: async () => {} });
    await v.until(1);
    expect(checker.stats.calls).toBe(0);
    expect(store.get('key-shared')).toEqual({ status: 'safe' });
    prover.close();
  });
});

const yaml = (id: string, regex: string, user: string) => `patterns:
  - id: ${id}
    description: test
    kind: up
    tags: [KMD_VPN_UP_ALARM_USER]
    match: [KMD_VPN_UP_ALARM_USER]
    regex: '${regex}'
    examples:
      - line: '<30>Mar  3 14:02:11 fw kmd[1]: KMD_VPN_UP_ALARM_USER: user=${user}'
        fields: { user: ${user} }
`;

describe('pattern proofs of the running library', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function setUp(answers: Diagnostics[]) {
    dir = mkdtempSync(path.join(tmpdir(), 'ptim-proofs-'));
    writeFileSync(path.join(dir, '10-a.yaml'), yaml('good', '^user=(?<user>a[a-z]*)$', 'alice'));
    writeFileSync(path.join(dir, '20-b.yaml'), yaml('new', '^user=(?<user>b[a-z]*)$', 'bob'));
    const logs: Record<string, unknown>[] = [];
    const logger = createLogger(
      { level: 'info' },
      new Writable({
        write(c: Buffer, _e, cb) {
          logs.push(JSON.parse(c.toString()) as Record<string, unknown>);
          cb();
        },
      }),
    );
    const metrics = createMetrics();
    const installed: Library[] = [];
    const proofs = createPatternProofs({
      cfg: { dirs: [dir], verdictCacheFile: path.join(dir, 'cache.json') },
      logger,
      metrics,
      install: (l) => installed.push(l),
      checker: scripted(answers),
      prover: FAST_RETRY,
    });
    const lib = proofs.offer(await loadLibrary([dir], { verdicts: proofs.store }));
    return { proofs, lib, logs, metrics, installed };
  }

  it('offers the regexes a reload adds to the prover, and drops a refused one in the matcher thread too', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ptim-proofs-'));
    writeFileSync(path.join(dir, '10-a.yaml'), yaml('good', '^user=(?<user>a[a-z]*)$', 'alice'));
    const patterns = { ...defaultConfig().patterns, dirs: [dir], verdictCacheFile: path.join(dir, 'cache.json') };
    const dropped: string[] = [];
    const main = mainLibrary(
      patterns,
      {
        logger: createLogger({ level: 'silent' }),
        metrics: createMetrics(),
        clock: { now: () => 0 },
        checker: scripted([SAFE, VULNERABLE]),
      },
      await loadLibrary([dir]),
      (keys) => dropped.push(...keys),
    );
    main.proofs.start();
    await waitFor(() => main.proofs.pending().length === 0, { what: 'the first library proven' });
    writeFileSync(path.join(dir, '20-b.yaml'), yaml('new', '^user=(?<user>b[a-z]*)$', 'bob'));
    main.offer(await main.load());
    await waitFor(() => dropped.length > 0, { what: 'the reloaded pattern proven and refused' });
    expect(dropped).toEqual([expect.stringMatching(/^new/)]);
    expect(main.current().patterns.map((p) => p.id)).toEqual(['good']);
    main.proofs.close();
  });

  it('runs a new pattern at once, and removes it when its proof refuses it (counted, logged)', async () => {
    // `good` is proven first (safe), then `new` (vulnerable).
    const { proofs, lib, logs, metrics, installed } = await setUp([SAFE, VULNERABLE]);
    expect(lib.patterns.map((p) => p.id)).toEqual(['good', 'new']);
    expect(proofs.pending().map((p) => p.patternId)).toEqual(['good', 'new']);
    expect((await metrics.proofsPending.get()).values[0]?.value).toBe(2);
    proofs.start();
    await waitFor(() => installed.length > 0, { what: 'the refused pattern removed from the running library' });
    expect(installed[0]!.patterns.map((p) => p.id)).toEqual(['good']);
    expect(proofs.pending()).toEqual([]);
    expect((await metrics.proofs.get()).values.map((x) => [x.labels.result, x.value])).toEqual([
      ['safe', 1],
      ['refused', 1],
    ]);
    expect(logs.find((l) => l.msg === 'pattern refused by its safety proof: removed from the running library')).toMatchObject({
      pattern: 'new',
    });
    // The verdicts were stored: the next load refuses the library, and re-proves nothing.
    await expect(
      loadLibrary([dir], { verdicts: createVerdictStore({ cacheFile: path.join(dir, 'cache.json') }) }),
    ).rejects.toThrow(/problem/);
    proofs.close();
  });
});
