import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp } from '../../../src/identity/ip.js';

/** What canonicalIp did before it had its own parser: the WHATWG URL serializer (RFC 5952). */
function viaUrl(ip: string): string | undefined {
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

describe('canonicalIp', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8::0001', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:1:1:1:1:1:0', '2001:db8:1:1:1:1:1:0'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['fe80::1%eth0', undefined],
    ['not-an-ip', undefined],
    ['', undefined],
  ])('%s → %s', (input, expected) => {
    expect(canonicalIp(input)).toBe(expected);
  });

  it('agrees with the URL serializer on every IPv6 and IPv4 address', () => {
    const upper = fc.ipV6().map((s) => s.toUpperCase());
    fc.assert(
      fc.property(fc.oneof(fc.ipV6(), upper, fc.ipV4()), (ip) => {
        expect(canonicalIp(ip)).toBe(ip.includes(':') ? viaUrl(ip) : ip);
      }),
      { numRuns: 2000 },
    );
  });
});
