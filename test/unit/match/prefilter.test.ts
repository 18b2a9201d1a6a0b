import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commonSubstring, createPrefilter, minimalLiterals } from '../../../src/match/prefilter.js';

describe('prefilter', () => {
  it('drops literals that contain another literal', () => {
    expect(
      minimalLiterals(['KMD_VPN_UP_ALARM_USER', 'VPN_UP_ALARM_USER', 'IKE_VPN_UP_ALARM_USER', 'VPN_DOWN_ALARM_USER', '']),
    ).toEqual(['VPN_UP_ALARM_USER', 'VPN_DOWN_ALARM_USER']);
  });

  it('finds the substring all literals share', () => {
    expect(commonSubstring(['VPN_UP_ALARM_USER', 'VPN_DOWN_ALARM_USER'])).toBe('_ALARM_USER');
    expect(commonSubstring(['abc', 'xyz'])).toBe('');
  });

  it('accepts exactly the lines that contain a literal', () => {
    const literal = fc.constantFrom('VPN_UP_ALARM_USER', 'VPN_DOWN_ALARM_USER', 'KMD_PM_SA_ESTABLISHED', 'AB', 'ALARM');
    const piece = fc.oneof(fc.string({ maxLength: 20 }), literal, fc.constantFrom('_ALARM_USER', 'VPN_UP_', 'ALARM_USE'));
    fc.assert(
      fc.property(fc.uniqueArray(literal, { minLength: 1, maxLength: 3 }), fc.array(piece, { maxLength: 6 }), (lits, pieces) => {
        const line = pieces.join(' ');
        expect(createPrefilter(lits)(Buffer.from(line))).toBe(lits.some((l) => line.includes(l)));
      }),
      { numRuns: 500 },
    );
  });

  it('accepts nothing without literals', () => {
    expect(createPrefilter([])(Buffer.from('VPN_UP_ALARM_USER'))).toBe(false);
  });
});
