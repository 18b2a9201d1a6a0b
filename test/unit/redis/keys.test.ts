// ipKey: the session key of an IP, safe inside a BullMQ job id. Its text names existing Redis
// keys and job ids, so it must never change: every answer is checked against ipKey as it was
// before it built the `_` form at once and remembered its scope.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp } from '../../../src/identity/ip.js';
import { ipKey } from '../../../src/redis/keys.js';

/** ipKey as it was (canonicalIp itself is held to the code before it by test/unit/identity/ip.test.ts). */
function before(ip: string, scope = ''): string {
  const c = canonicalIp(ip) ?? ip;
  const safe = c.replace(/:/g, '_');
  return scope ? `${scope.replace(/[^A-Za-z0-9_.]/g, '_')}~${safe}` : safe;
}

const ADDRESS_CHARS = [...'0123456789abcdefABCDEF:.%'];
/** IPv6 as the login storm's clients spell it, any IPv6 or IPv4, upper case, near-misses and garbage. */
const ips = fc.oneof(
  fc.nat(0xffff).map((i) => `2001:db8::1:${i.toString(16)}`),
  fc.ipV6(),
  fc.ipV6().map((s) => s.toUpperCase()),
  fc.ipV4(),
  fc.string({ unit: fc.constantFrom(...ADDRESS_CHARS), maxLength: 46 }),
  fc.string(),
);
const scopes = fc.oneof(fc.constantFrom('', 'vr-blue', 'vr_red.1', 'a:b'), fc.string({ maxLength: 8 }));

describe('ipKey', () => {
  it.each([
    ['10.0.0.1', '', '10.0.0.1'],
    ['2001:DB8:0:0::1', '', '2001_db8__1'],
    ['2001:db8::1:c350', '', '2001_db8__1_c350'],
    ['::', '', '__'],
    ['1:2:3:4:5:6:7::', '', '1_2_3_4_5_6_7_0'],
    ['::ffff:192.0.2.1', '', '__ffff_c000_201'],
    ['fe80::1%eth0', '', 'fe80__1%eth0'],
    ['not:an:ip', '', 'not_an_ip'],
    ['198.51.100.7', 'vr-blue', 'vr_blue~198.51.100.7'],
    ['2001:db8::1', 'vr blue/2', 'vr_blue_2~2001_db8__1'],
  ])('%s in scope %j → %s', (ip, scope, expected) => {
    expect(ipKey(ip, scope)).toBe(expected);
  });

  it('answers as before for any text in any scope, the scope changing from call to call or not', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(ips, scopes), { minLength: 1, maxLength: 5 }), (calls) => {
        for (const [ip, scope] of calls) {
          expect(ipKey(ip, scope)).toBe(before(ip, scope));
          expect(ipKey(ip)).toBe(before(ip));
        }
      }),
      { numRuns: 3000 },
    );
  });
});
