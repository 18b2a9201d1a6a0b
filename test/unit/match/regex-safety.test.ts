import { describe, expect, it } from 'vitest';
import { checkRegexSafety, repeatedGroups, safetyAdvice, withoutLookarounds } from '../../../src/match/regex-safety.js';

describe('regex safety', () => {
  it('refuses the naive lazy label chain (polynomial) and nested quantifiers (exponential)', async () => {
    const [naive, nested] = await Promise.all([
      checkRegexSafety(String.raw`^gateway name: (.*?), vpn name: (.*?)$`, ''),
      checkRegexSafety(String.raw`^(a+)+$`, ''),
    ]);
    expect(naive).toMatchObject({ status: 'vulnerable', complexity: expect.stringContaining('polynomial') });
    expect(nested).toMatchObject({ status: 'vulnerable', complexity: 'exponential' });
    expect(safetyAdvice(naive)).toContain('tempered token');
  });

  it('accepts anchored tempered tokens', async () => {
    const v = await checkRegexSafety(String.raw`^gateway name: ((?:[^,]|,(?! vpn name: ))*), vpn name: ([^,]*)$`, '');
    expect(v).toEqual({ status: 'safe' });
  });

  it('caches verdicts by source', () => {
    const a = checkRegexSafety('^abc$', '');
    expect(checkRegexSafety('^abc$', '')).toBe(a);
  });
});

describe('ambiguous groups hidden in a long regex', () => {
  // The whole-regex check falls back to fuzzing when look-arounds are present (every shipped
  // pattern has them); fuzzing missed this group, which costs seconds per line of 27 characters.
  const chain = String.raw`^VPN\ [^\ ]+\ from\ (?<peerIp>(?:[^\ ]+)+)\ is\ up\.\ Local-ip:\ (?=(?<l>[^,]*))\k<l>,\ gateway\ name:\ (?<g>(?:[^,]|,(?!\ vpn\ name:))*),\ vpn\ name:\ (?<v>[^,]*)$`;

  it('refuses a nested quantifier next to look-aheads and back-references, naming the group', async () => {
    const v = await checkRegexSafety(chain, '');
    expect(v).toMatchObject({ status: 'vulnerable', complexity: 'exponential', hotspot: '(?:[^\\ ]+)+' });
  });

  it('still accepts delimiter-separated repetition and tempered tokens', async () => {
    const ok = chain.replace(String.raw`(?:[^\ ]+)+`, String.raw`[^\ ]+`);
    const ts = String.raw`^ids:((?:\ (?:ipv[46](?:_subnet)?\([^()]*\)))*)\ ,\ end$`;
    expect(await checkRegexSafety(ok, '')).toEqual({ status: 'safe' });
    expect(await checkRegexSafety(ts, '')).toEqual({ status: 'safe' });
  });

  it('finds repeated groups and widens look-arounds away', () => {
    expect(repeatedGroups(String.raw`^(a)(?:b[)(]+)*c(d{2,})?(?:e|f){3,}?$`)).toEqual([String.raw`(?:b[)(]+)*`, '(?:e|f){3,}?']);
    expect(withoutLookarounds(String.raw`(?=(?<x>[^,)]*))\k<x>,(?!\ a)b\1`)).toBe('(?:),b(?:)');
  });
});
