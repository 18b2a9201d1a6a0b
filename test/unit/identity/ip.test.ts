import { isIP, isIPv4 } from 'node:net';
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

/**
 * canonicalIp as it was before its char-code parser (isIP, then split/map/join), verbatim: the
 * reference the rewrite must agree with on every string, address or not.
 */
function before(ip: string): string | undefined {
  const v = isIP(ip);
  if (v === 4) return beforeIpv4(ip);
  if (v === 6) return beforeIpv6(ip);
  return undefined;
}

function beforeIpv4(ip: string): string {
  // isIP accepts no leading zeros except a lone "0", so only the number form needs normalizing.
  let out = '';
  for (const o of ip.split('.')) out += (out ? '.' : '') + String(Number(o));
  return out;
}

/** The eight 16-bit groups of an IPv6 address isIP accepted; undefined for a zone id (`%eth0`). */
function beforeGroups(ip: string): number[] | undefined {
  if (ip.includes('%')) return undefined;
  const parse = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const gap = ip.indexOf('::');
  if (gap < 0) return parse(ip);
  const head = parse(ip.slice(0, gap));
  const tail = parse(ip.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** RFC 5952: lower-case hex without leading zeros, the longest run (≥ 2) of zero groups as `::`, the first on a tie. */
function beforeIpv6(ip: string): string | undefined {
  const g = beforeGroups(ip);
  if (!g || g.length !== 8) return undefined;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** Eight groups, zeros often (so runs to compress occur), and one way of writing them. */
const spelled = fc
  .record({
    groups: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }),
    pads: fc.array(fc.nat(3), { minLength: 8, maxLength: 8 }),
    upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
    plain: fc.boolean(),
    gap: fc.constantFrom('none', 'any', 'rfc5952'),
    gapStart: fc.nat(7),
    gapLen: fc.integer({ min: 1, max: 8 }),
    v4Tail: fc.boolean(),
  })
  .map((s) => {
    const g = [...s.groups];
    const limit = s.v4Tail ? 6 : 8; // `::` cannot swallow the IPv4 tail
    let gap: [number, number] | undefined;
    if (s.gap === 'any' && s.gapStart < limit) {
      gap = [s.gapStart, Math.min(s.gapStart + s.gapLen, limit)];
      g.fill(0, gap[0], gap[1]);
    } else if (s.gap === 'rfc5952') {
      const c = before(g.map((x) => x.toString(16)).join(':'))!;
      const at = c.indexOf('::');
      const headLen = at < 0 ? 0 : c.slice(0, at).split(':').filter(Boolean).length;
      const tailLen =
        at < 0
          ? 0
          : c
              .slice(at + 2)
              .split(':')
              .filter(Boolean).length;
      if (at >= 0 && 8 - tailLen <= limit) gap = [headLen, 8 - tailLen];
    }
    const word = (x: number, k: number) => {
      const h = s.plain ? x.toString(16) : x.toString(16).padStart(Math.min(4, x.toString(16).length + s.pads[k]!), '0');
      return !s.plain && s.upper[k] ? h.toUpperCase() : h;
    };
    const words = g.map(word);
    if (s.v4Tail) words.splice(6, 2, [g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255].join('.'));
    const tailFrom = gap ? gap[1] : 0;
    // With an IPv4 tail it is word 6 (groups 6 and 7), and a gap ends at 6 at the latest.
    return gap ? `${words.slice(0, gap[0]).join(':')}::${words.slice(tailFrom).join(':')}` : words.join(':');
  });

/** Near-miss text: an address with a few characters deleted, inserted or replaced. */
const ALPHABET = [...'0123456789abcdefABCDEFg:.%'];
const mutated = fc
  .tuple(spelled, fc.array(fc.tuple(fc.nat(3), fc.nat(50), fc.constantFrom(...ALPHABET)), { minLength: 1, maxLength: 3 }))
  .map(([ip, edits]) => {
    let s = ip;
    for (const [op, at, ch] of edits) {
      const i = at % (s.length + 1);
      s =
        op === 0
          ? s.slice(0, i) + s.slice(i + 1)
          : op === 1
            ? s.slice(0, i) + ch + s.slice(i)
            : s.slice(0, i) + ch + s.slice(i + 1);
    }
    return s;
  });

/** Every string of up to `max` characters over `chars`. */
function* allStrings(chars: string, max: number): Generator<string> {
  let level = [''];
  for (let len = 0; len <= max; len++) {
    yield* level;
    if (len < max) level = level.flatMap((s) => [...chars].map((c) => s + c));
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
    // The login storm's client addresses: already canonical, returned as given.
    ['2001:db8::1:c350', '2001:db8::1:c350'],
    // `::` for a single zero group, or not at the longest run: spelled again.
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['1::2:0:0:0:3', '1:0:0:2::3'],
    ['0::1', '::1'],
    ['1:0:0:2::3', '1:0:0:2::3'],
    ['::1.2.3.4', '::102:304'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['1:2:3:4:5:6::1.2.3.4', undefined],
    ['::ffff:01.2.3.4', undefined],
    ['::ffff:256.0.0.1', undefined],
    ['::ffff:1.2.3.256', undefined],
    ['::ffff:1.2.3.1000', undefined],
    ['::ffff:255.255.255.255', '::ffff:ffff:ffff'],
    ['::ffff:0.0.0.0', '::ffff:0:0'],
    ['::ffff:1.2.3.4%1', undefined],
    ['ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['1::2::3', undefined],
    [':::', undefined],
    ['1:2:3:4:5:6:7:8:', undefined],
    ['1::2:3:4:5:6:7:8', undefined],
    ['::00000', undefined],
  ])('%s → %s', (input, expected) => {
    expect(canonicalIp(input)).toBe(expected);
  });

  it('returns IPv4 text unchanged: node:net refuses every spelling but the canonical one', () => {
    for (const s of ['01.2.3.4', '1.2.3.04', '00.0.0.0', '1.2.3.256', '1.2.3', '1.2.3.4.5', ' 1.2.3.4', '1.2.3.4\n'])
      expect([s, isIPv4(s), canonicalIp(s)]).toEqual([s, false, undefined]);
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(canonicalIp(ip)).toBe(ip);
      }),
      { numRuns: 2000 },
    );
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

  it('agrees with the URL serializer and the code before on any spelling of an IPv6 address', () => {
    fc.assert(
      fc.property(spelled, (ip) => {
        expect(isIP(ip)).toBe(6);
        const c = canonicalIp(ip);
        expect(c).toBe(viaUrl(ip));
        expect(c).toBe(before(ip));
      }),
      { numRuns: 5000 },
    );
  });

  it('answers as before on near-miss and arbitrary text', () => {
    const garbage = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 46 });
    fc.assert(
      fc.property(fc.oneof(mutated, garbage, fc.string()), (s) => {
        expect(canonicalIp(s)).toBe(before(s));
      }),
      { numRuns: 10000 },
    );
  });

  it('answers as before on every short string of address characters', () => {
    for (const [chars, max] of [
      ['01:.', 9],
      ['0aF:%', 7],
    ] as const) {
      for (const s of allStrings(chars, max))
        if (canonicalIp(s) !== before(s)) expect([s, canonicalIp(s)]).toEqual([s, before(s)]);
    }
  });
});
