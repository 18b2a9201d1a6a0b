// Canonical IP text: the one spelling of an address that session keys, job ids and the JIMS
// body use, so `2001:DB8:0:0::1` and `2001:db8::1` are the same session. Pure.
import { isIP } from 'node:net';

/** Canonical text of an IP (IPv4 dotted decimal; IPv6 compressed, lower case) or undefined when not an IP. */
export function canonicalIp(ip: string): string | undefined {
  const v = isIP(ip);
  if (v === 4) return canonicalIpv4(ip);
  if (v === 6) return canonicalIpv6(ip);
  return undefined;
}

function canonicalIpv4(ip: string): string {
  // isIP accepts no leading zeros except a lone "0", so only the number form needs normalizing.
  let out = '';
  for (const o of ip.split('.')) out += (out ? '.' : '') + String(Number(o));
  return out;
}

/** The eight 16-bit groups of an IPv6 address isIP accepted; undefined for a zone id (`%eth0`). */
function ipv6Groups(ip: string): number[] | undefined {
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
function canonicalIpv6(ip: string): string | undefined {
  const g = ipv6Groups(ip);
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
