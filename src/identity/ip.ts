// Canonical IP text: the one spelling of an address that session keys, job ids and the JIMS
// body use, so `2001:DB8:0:0::1` and `2001:db8::1` are the same session. Pure.
//
// This runs several times per event on the main thread (every ipKey), so it builds no arrays or
// intermediate strings: an IPv4 address isIPv4 accepts is already canonical, IPv6 text is parsed
// by one char-code loop into a reused group buffer, and text already canonical is returned as
// given. The IPv6 parser accepts exactly what node:net's isIPv6 accepts (less zone ids), which
// spares that regex, itself dearer than the whole parse; test/unit/identity/ip.test.ts holds it to
// isIP and to the code before on every short string of address characters and on random near-misses.
import { isIPv4 } from 'node:net';

/** Canonical text of an IP (IPv4 dotted decimal; IPv6 compressed, lower case) or undefined when not an IP. */
export function canonicalIp(ip: string): string | undefined {
  // isIPv4 refuses leading zeros (`01.2.3.4`) and any other spelling but the canonical one.
  if (!ip.includes(':')) return isIPv4(ip) ? ip : undefined;
  return canonicalIpv6(ip, ':');
}

/**
 * canonicalIp with `separator` in place of each `:` (ipKey's `_`): the text is built once with it
 * rather than built and then rewritten.
 */
export function canonicalIpWith(ip: string, separator: string): string | undefined {
  if (!ip.includes(':')) return isIPv4(ip) ? ip : undefined;
  return canonicalIpv6(ip, separator);
}

/** The eight 16-bit groups of the IPv6 text parseIpv6 last accepted. One parse runs at a time: nothing re-enters. */
const groups = new Uint16Array(8);

/** parseIpv6's answer for text that is not an IPv6 address (or has a zone id, `%eth0`). */
const NOT_IPV6 = -1;
/** parseIpv6's answer for text with upper case, a leading zero or an IPv4 tail: never canonical as written. */
const RESPELL = -2;
// Any other answer says where the text put `::`: start * 16 + length in groups (0 without `::`).

/** The longest IPv6 text isIPv6 accepts without a zone id: six groups of four and a 15-character IPv4 tail. */
const MAX_IPV6_LENGTH = 45;

/** RFC 5952: lower-case hex without leading zeros, the longest run (≥ 2) of zero groups as `::`, the first on a tie. */
function canonicalIpv6(ip: string, separator: string): string | undefined {
  const layout = parseIpv6(ip);
  if (layout === NOT_IPV6) return undefined;
  const run = longestZeroRun();
  // Spelled canonically and compressed where RFC 5952 compresses: the text is its own canonical form.
  if (layout === run && separator === ':') return ip;
  const best = run >> 4;
  const after = best + (run & 15); // first group after the run; == best when there is none
  let out = '';
  for (let k = 0; k < 8; k++) {
    if (k === best && after > best) {
      out += separator + separator;
      k = after - 1;
    } else {
      if (k > 0 && !(k === after && after > best)) out += separator;
      out += hex(groups[k]!);
    }
  }
  return out;
}

/** Hex text of 0–255 without leading zeros, and with exactly two digits (number.toString(16) costs twice a lookup). */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16));
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A group as RFC 5952 writes it: lower case, no leading zeros. */
const hex = (x: number): string => (x < 256 ? HEX[x]! : HEX[x >> 8]! + HEX2[x & 255]!);

/** The longest run (≥ 2) of zero groups, the first on a tie, as start * 16 + length; 0 when there is none. */
function longestZeroRun(): number {
  let best = 0;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    if (groups[i] !== 0) continue;
    let j = i + 1;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  return bestLen < 2 ? 0 : best * 16 + bestLen;
}

const COLON = 0x3a;
const DOT = 0x2e;
const ZERO = 0x30;

/**
 * Parses IPv6 text into `groups`, accepting the language of node:net's isIPv6 without a zone id:
 * groups of 1–4 hex digits split by `:`, at most one `::` standing for one or more zero groups,
 * and optionally an IPv4 tail (isIPv4's spelling) as the last two groups. Answers NOT_IPV6,
 * RESPELL, or where the text put `::`.
 */
function parseIpv6(ip: string): number {
  const n = ip.length;
  if (n < 2 || n > MAX_IPV6_LENGTH) return NOT_IPV6;
  let count = 0; // groups written
  let gap = -1; // the group `::` stands before
  let respell = false;
  let i = 0;
  if (ip.charCodeAt(0) === COLON) {
    if (ip.charCodeAt(1) !== COLON) return NOT_IPV6;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    const start = i;
    let value = 0;
    for (; i < n && i - start < 5; i++) {
      const d = hexDigit(ip.charCodeAt(i));
      if (d < 0) break;
      value = value * 16 + (d & 15);
      if (d > 15) respell = true;
    }
    if (i < n && ip.charCodeAt(i) === DOT) {
      // An IPv4 tail ends the text; closeGap checks that it leaves room for `::` or makes eight groups.
      const v4 = count > 6 ? -1 : ipv4Value(ip, start);
      if (v4 < 0) return NOT_IPV6;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      return closeGap(count, gap, true);
    }
    const digits = i - start;
    if (digits === 0 || digits > 4 || count === 8) return NOT_IPV6;
    if (digits > 1 && ip.charCodeAt(start) === ZERO) respell = true;
    groups[count++] = value;
    if (i === n) break;
    if (ip.charCodeAt(i) !== COLON) return NOT_IPV6; // a zone id (`%eth0`) ends up here too
    i++;
    if (ip.charCodeAt(i) === COLON) {
      if (gap >= 0) return NOT_IPV6;
      gap = count;
      i++;
    } else if (i === n) return NOT_IPV6; // a trailing single `:`
  }
  return closeGap(count, gap, respell);
}

/** Per ASCII code: 0–15 for a hex digit, 16 more for an upper-case one (never canonical), -1 for anything else. */
const HEX_DIGIT = new Int8Array(128).fill(-1);
for (let c = 0; c < 16; c++) {
  HEX_DIGIT[c.toString(16).charCodeAt(0)] = c;
  if (c > 9) HEX_DIGIT[c.toString(16).toUpperCase().charCodeAt(0)] = c + 16;
}

/** One load per character instead of three range tests. */
const hexDigit = (c: number): number => (c < 128 ? HEX_DIGIT[c]! : -1);

/** Widens `::` to the zero groups it stands for (at least one); eight groups without it. */
function closeGap(count: number, gap: number, respell: boolean): number {
  if (gap < 0) return count !== 8 ? NOT_IPV6 : respell ? RESPELL : 0;
  const zeros = 8 - count;
  if (zeros < 1) return NOT_IPV6;
  // Plain loops: copyWithin and fill cost more than moving at most seven groups.
  for (let k = count - 1; k >= gap; k--) groups[k + zeros] = groups[k]!;
  for (let k = gap; k < gap + zeros; k++) groups[k] = 0;
  return respell ? RESPELL : gap * 16 + zeros;
}

/** The 32-bit value of the dotted quad from `i` to the end of `ip` (isIPv4's spelling: 0–255, no leading zeros), or -1. */
function ipv4Value(ip: string, i: number): number {
  const n = ip.length;
  let value = 0;
  for (let part = 0; part < 4; part++) {
    if (part > 0 && ip.charCodeAt(i++) !== DOT) return -1;
    const start = i;
    let octet = 0;
    for (; i < n && i - start < 3; i++) {
      const c = ip.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      octet = octet * 10 + (c - 0x30);
    }
    if (i === start || octet > 255 || (i - start > 1 && ip.charCodeAt(start) === ZERO)) return -1;
    value = value * 256 + octet;
  }
  return i === n ? value : -1;
}
