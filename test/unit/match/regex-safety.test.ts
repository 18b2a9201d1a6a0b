import { describe, expect, it } from 'vitest';
import { checkRegexSafety, safetyAdvice } from '../../../src/match/regex-safety.js';

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
