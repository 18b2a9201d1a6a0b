// Stored safety verdicts: the shipped files are current (recomputed keys, no checker), keys
// follow what a verdict depends on, and the cache file lets a restart re-prove nothing.
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { inspectLibrary } from '../../../src/match/library.js';
import {
  CHECKER_ID,
  createVerdictStore,
  readVerdictFileSync,
  SHIPPED_VERDICTS_FILE,
  verdictKey,
} from '../../../src/match/verdicts.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Every committed verdict file: the shipped library's and the fixtures'. */
function verdictFiles(): string[] {
  const fixtures = path.join(ROOT, 'test/fixtures/patterns-bad');
  return [
    SHIPPED_VERDICTS_FILE,
    ...readdirSync(fixtures)
      .map((d) => path.join(fixtures, d, 'verdicts.json'))
      .filter((f) => existsSync(f)),
  ];
}

describe('committed verdict files', () => {
  it.each(verdictFiles().map((f) => [path.relative(ROOT, f)]))(
    '%s holds exactly the verdicts of its library (else: ptim-bridge patterns prove --dir <its dir> --write <it>)',
    async (rel) => {
      const file = path.join(ROOT, rel);
      const stored = readVerdictFileSync(file);
      // Only this file's verdicts: a missing or stale one shows up as pending.
      const r = await inspectLibrary([path.dirname(file)], { verdicts: { get: (k) => stored.get(k) } });
      expect(r.pending.map((p) => `${p.patternId} (${path.relative(ROOT, p.file)}:${p.line})`)).toEqual([]);
      expect([...stored.keys()].sort()).toEqual([...new Set(r.regexes.map((x) => x.key))].sort());
      expect((JSON.parse(readFileSync(file, 'utf8')) as { checker: string }).checker).toBe(CHECKER_ID);
    },
  );

  it('the shipped library loads with the shipped verdicts alone', async () => {
    const r = await inspectLibrary([path.join(ROOT, 'patterns')]);
    expect(r.problems).toEqual([]);
    expect(r.library?.pendingProofs).toEqual([]);
  });
});

describe('verdict keys', () => {
  it('change with the source, the flags and the checker, and with nothing else', () => {
    const k = verdictKey('^a+$', '');
    expect(verdictKey('^a+$', '')).toBe(k);
    expect(verdictKey('^a*$', '')).not.toBe(k);
    expect(verdictKey('^a+$', 'i')).not.toBe(k);
    expect(CHECKER_ID).toMatch(/^recheck \d+\.\d+\.\d+, method \d+$/);
  });
});

describe('verdict store', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps what it learns in the cache file, where the next start finds it', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ptim-verdicts-'));
    const cacheFile = path.join(dir, 'sub', 'cache.json');
    const a = createVerdictStore({ cacheFile });
    expect(a.get('k1')).toBeUndefined();
    await a.put('k1', { status: 'safe' }, 'p1');
    // Another replica on the same file: its entries are merged, not overwritten.
    await createVerdictStore({ cacheFile }).put('k2', { status: 'unsupported', reason: 'x' });
    const restarted = createVerdictStore({ cacheFile });
    expect(restarted.get('k1')).toEqual({ status: 'safe', pattern: 'p1' });
    expect(restarted.get('k2')).toEqual({ status: 'unsupported', reason: 'x' });
  });

  it('reads a verdicts.json next to the patterns, and survives a corrupt cache or an unwritable one', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ptim-verdicts-'));
    writeFileSync(path.join(dir, 'verdicts.json'), JSON.stringify({ checker: CHECKER_ID, verdicts: { k: { status: 'safe' } } }));
    writeFileSync(path.join(dir, 'cache.json'), '{not json');
    const errors: Error[] = [];
    const s = createVerdictStore({
      dirs: [dir],
      cacheFile: path.join(dir, 'cache.json', 'nope'),
      onWriteError: (e) => errors.push(e),
    });
    expect(s.get('k')).toEqual({ status: 'safe' });
    await s.put('k3', { status: 'safe' });
    expect(s.get('k3')).toEqual({ status: 'safe' });
    expect(errors).toHaveLength(1);
  });
});
