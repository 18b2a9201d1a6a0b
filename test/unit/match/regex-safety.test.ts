// The proof method on tiny regexes, with the real checker process: the one bounded set of tests
// that runs recheck. Every other test reads stored verdicts.
import { afterAll, describe, expect, it } from 'vitest';
import { createCheckerProcess, pureAgentCommand } from '../../../src/match/checker.js';
import { waitFor } from '../../helpers/wait.js';
import { proveRegex, repeatedGroups, safetyAdvice, withoutLookarounds } from '../../../src/match/regex-safety.js';

const checker = createCheckerProcess();
afterAll(() => checker.close());
// A generous budget: these regexes take well under a second; the budget only bounds a stuck host.
const prove = (source: string) => proveRegex(source, '', checker.run, { timeoutMs: 60_000 });

describe('regex safety', { timeout: 120_000 }, () => {
  it('refuses the naive lazy label chain (polynomial) and nested quantifiers (exponential)', async () => {
    const naive = await prove(String.raw`^gateway name: (.*?), vpn name: (.*?)$`);
    const nested = await prove(String.raw`^(a+)+$`);
    expect(naive).toMatchObject({ status: 'vulnerable', complexity: expect.stringContaining('polynomial') });
    expect(nested).toMatchObject({ status: 'vulnerable', complexity: 'exponential' });
    expect(naive.status === 'vulnerable' && safetyAdvice(naive)).toContain('tempered token');
  });

  it('accepts anchored tempered tokens', async () => {
    expect(await prove(String.raw`^gateway name: ((?:[^,]|,(?! vpn name: ))*), vpn name: ([^,]*)$`)).toEqual({ status: 'safe' });
  });

  it('refuses an ambiguity hidden behind a back-reference', async () => {
    // Widened to an empty group, `\k<user>` once made this `(?:a|)*$` and let it through; one
    // 30-character line then froze the bridge for 27 s.
    const v = await prove(String.raw`^(?<user>[a-z]+):(?:a|\k<user>)*$`);
    expect(v).toMatchObject({ status: 'vulnerable', hotspot: String.raw`(?:a|\k<user>)*` });
  });

  it('a proof that runs out of time is undecided, never a refusal', async () => {
    const v = await proveRegex(
      '^abc$',
      '',
      async () => ({ source: '', flags: '', status: 'unknown', error: { kind: 'timeout' } }),
      {
        timeoutMs: 1,
      },
    );
    expect(v).toEqual({ status: 'undecided', reason: 'analysis timed out' });
    const crashed = await proveRegex('^abc$', '', () => Promise.reject(new Error('checker process exited')), { timeoutMs: 1 });
    expect(crashed).toMatchObject({ status: 'undecided', reason: expect.stringContaining('exited') });
  });
});

describe('checker process', { timeout: 60_000 }, () => {
  it('is one child, started on demand, that exits when idle', async () => {
    const c = createCheckerProcess({ idleExitMs: 50 });
    expect(c.pid()).toBeUndefined();
    const [a, b] = await Promise.all([c.run('^a$', '', { timeout: 30_000 }), c.run('^b$', '', { timeout: 30_000 })]);
    expect([a.status, b.status]).toEqual(['safe', 'safe']);
    const pid = c.pid();
    expect(pid).toBeTypeOf('number');
    await waitFor(() => c.pid() === undefined, { what: 'the idle checker to exit' });
    await waitFor(() => !alive(pid!), { what: `checker process ${pid} gone` });
    c.close();
  });

  it('where recheck has no native binary, node runs its JavaScript implementation behind the same protocol', async () => {
    const c = createCheckerProcess({ command: pureAgentCommand() });
    expect((await c.run('^(a+)+$', '', { timeout: 30_000 })).status).toBe('vulnerable');
    c.close();
  });

  it('a checker that dies is an error for the running analysis, and the next one starts afresh', async () => {
    const c = createCheckerProcess({ command: [process.execPath, '-e', 'process.stdin.once("data", () => process.exit(3))'] });
    await expect(c.run('^a$', '', { timeout: 30_000 })).rejects.toThrow(/exited/);
    await expect(c.run('^a$', '', { timeout: 30_000 })).rejects.toThrow(/exited/);
    c.close();
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('ambiguous groups hidden in a long regex', { timeout: 120_000 }, () => {
  // The whole-regex check falls back to fuzzing when look-arounds are present (every shipped
  // pattern has them); fuzzing missed this group, which costs seconds per line of 27 characters.
  const chain = String.raw`^VPN\ [^\ ]+\ from\ (?<peerIp>(?:[^\ ]+)+)\ is\ up\.\ Local-ip:\ (?=(?<l>[^,]*))\k<l>,\ gateway\ name:\ (?<g>(?:[^,]|,(?!\ vpn\ name:))*),\ vpn\ name:\ (?<v>[^,]*)$`;

  it('refuses a nested quantifier next to look-aheads and back-references, naming the group', async () => {
    expect(await prove(chain)).toMatchObject({ status: 'vulnerable', complexity: 'exponential', hotspot: '(?:[^\\ ]+)+' });
  });

  it('still accepts delimiter-separated repetition and tempered tokens', async () => {
    const ok = chain.replace(String.raw`(?:[^\ ]+)+`, String.raw`[^\ ]+`);
    const ts = String.raw`^ids:((?:\ (?:ipv[46](?:_subnet)?\([^()]*\)))*)\ ,\ end$`;
    expect(await prove(ok)).toEqual({ status: 'safe' });
    expect(await prove(ts)).toEqual({ status: 'safe' });
  });

  it('finds repeated groups and widens look-arounds away, back-references to their group', () => {
    expect(repeatedGroups(String.raw`^(a)(?:b[)(]+)*c(d{2,})?(?:e|f){3,}?$`)).toEqual([String.raw`(?:b[)(]+)*`, '(?:e|f){3,}?']);
    expect(withoutLookarounds(String.raw`(?=(?<x>[^,)]*))\k<x>,(?!\ a)b\1`)).toBe('(?:[^,)]*),b(?:[^,)]*)');
    // A fragment is widened with the whole regex as context; unknown or self-references match anything.
    expect(withoutLookarounds(String.raw`(?:a|\k<user>)*`, String.raw`(?<user>\w+)(?:a|\k<user>)*`)).toBe(
      String.raw`(?:a|(?:\w+))*`,
    );
    expect(withoutLookarounds(String.raw`(?:a|\2)*`)).toBe(String.raw`(?:a|[\s\S]*)*`);
    expect(withoutLookarounds(String.raw`(a\1)`)).toBe(String.raw`(a(?:a[\s\S]*))`);
  });
});
