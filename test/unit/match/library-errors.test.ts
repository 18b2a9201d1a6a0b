// Every class of pattern-library mistake is reported with file, line, pattern id and field, and
// all problems of a load come back together in ONE PtimError.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PtimError, type Problem } from '../../../src/errors.js';
import { loadLibrary } from '../../../src/match/library.js';

const BAD = fileURLToPath(new URL('../../fixtures/patterns-bad', import.meta.url));

async function problemsOf(dir: string): Promise<Problem[]> {
  try {
    await loadLibrary([path.join(BAD, dir)]);
  } catch (e) {
    expect(e).toBeInstanceOf(PtimError);
    expect((e as PtimError).code).toBe('PTIM_ERR_PATTERN');
    return (e as PtimError).problems.map((p) => ({ ...p, source: p.source && path.relative(BAD, p.source) }));
  }
  throw new Error(`${dir} loaded without error`);
}

describe('pattern library loader errors', () => {
  it('YAML syntax: file and line', async () => {
    const ps = await problemsOf('yaml-syntax');
    expect(ps).toEqual([
      expect.objectContaining({ source: 'yaml-syntax/10-a.yaml', line: 4, message: expect.stringMatching(/^YAML: /) }),
    ]);
  });

  it('unknown keys: every one, with pattern id and key', async () => {
    const ps = await problemsOf('unknown-key');
    expect(ps).toEqual([
      expect.objectContaining({ source: 'unknown-key/10-a.yaml', line: 9, path: 't-up.regx', message: 'unknown key' }),
      expect.objectContaining({ source: 'unknown-key/10-a.yaml', line: 20, path: 't-up-2.colour', message: 'unknown key' }),
    ]);
  });

  it('missing keys', async () => {
    expect(await problemsOf('missing-key')).toEqual([
      expect.objectContaining({ source: 'missing-key/10-a.yaml', line: 2, path: 't-up.kind', message: 'missing key' }),
    ]);
  });

  it('duplicate ids across files', async () => {
    expect(await problemsOf('duplicate-id')).toEqual([
      expect.objectContaining({
        source: 'duplicate-id/20-b.yaml',
        line: 2,
        path: 't-up.id',
        message: expect.stringContaining('duplicate pattern id'),
      }),
    ]);
  });

  it('unknown sub-pattern references, each named', async () => {
    const ps = await problemsOf('unknown-subpattern');
    expect(ps.map((p) => [p.line, p.path, p.message])).toEqual([
      [9, 't-up.regex', 'unknown sub-pattern reference {{wrod}}'],
      [9, 't-up.regex', 'unknown sub-pattern reference {{ipv4}}'],
    ]);
  });

  it('unknown transforms, per field', async () => {
    const ps = await problemsOf('unknown-transform');
    expect(ps.map((p) => [p.line, p.path])).toEqual([
      [10, 't-up.transforms.user'],
      [11, 't-up.transforms.ip'],
    ]);
    expect(ps[0]!.message).toContain('"uppercase"');
  });

  it('regexes that do not compile', async () => {
    expect(await problemsOf('regex-compile')).toEqual([
      expect.objectContaining({ line: 7, path: 't-up.regex', message: expect.stringContaining('regex does not compile') }),
    ]);
  });

  it('regexes at risk of catastrophic backtracking are refused, with advice', async () => {
    expect(await problemsOf('regex-unsafe')).toEqual([
      expect.objectContaining({
        line: 7,
        path: 't-up.regex',
        message: expect.stringMatching(/backtrack catastrophically \(.*polynomial.*tempered token/),
      }),
    ]);
  });

  it('an ambiguity hidden behind a back-reference is refused (its stored verdict; see regex-safety.test.ts)', async () => {
    expect(await problemsOf('regex-backref-evasion')).toEqual([
      expect.objectContaining({
        line: 7,
        path: 't-up.regex',
        message: expect.stringMatching(/backtrack catastrophically \(exponential/),
      }),
    ]);
  });

  it('examples that do not produce their expected fields', async () => {
    const ps = await problemsOf('example-fails');
    expect(ps.map((p) => [p.line, p.path])).toEqual([
      [10, 't-up.examples[0]'],
      [20, 't-up-2.examples[0]'],
    ]);
    expect(ps[0]!.message).toContain('user: expected "bob", got "alice"');
  });

  it('counter-examples that match', async () => {
    expect(await problemsOf('counter-example-matches')).toEqual([
      expect.objectContaining({ line: 10, path: 't-up.counterExamples[0]', message: 'counter-example matches this pattern' }),
    ]);
  });

  it('reports every problem of every file in one error', async () => {
    const ps = await problemsOf('many');
    expect(ps.map((p) => `${p.source}:${p.line} ${p.path}`)).toEqual([
      'many/10-a.yaml:9 t-up.regx',
      'many/10-a.yaml:13 t-two.kind',
      'many/10-a.yaml:30 t-three.transforms.user',
      'many/10-a.yaml:39 t-four.regex',
      'many/20-b.yaml:17 t-five.regex',
      'many/20-b.yaml:30 t-six.examples[0]',
    ]);
  });

  it('a missing directory is a problem, not a crash', async () => {
    expect(await problemsOf('does-not-exist')).toEqual([
      expect.objectContaining({ message: expect.stringContaining('cannot read pattern directory') }),
    ]);
  });
});
