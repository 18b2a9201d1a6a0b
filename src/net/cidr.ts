// CIDR parsing and matching for the source allow-list and the firewall-name map. Pure.
// IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what a dual-stack socket reports for IPv4 peers) is
// treated as the IPv4 address, in both addresses and CIDRs, so one rule covers both forms.
import { isIPv4, isIPv6 } from 'node:net';
import type { Problem } from '../errors.js';

export interface IpAddress {
  readonly family: 4 | 6;
  readonly value: bigint;
}

export interface Cidr {
  readonly family: 4 | 6;
  /** Network address (host bits zero). */
  readonly network: bigint;
  readonly prefix: number;
  /** As written in the configuration (for messages). */
  readonly text: string;
}

function v4ToBigint(s: string): bigint {
  return s.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function v6ToBigint(s: string): bigint {
  let text = s;
  // An embedded IPv4 tail (`::ffff:192.0.2.1`) stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  const v4 = text.slice(lastColon + 1);
  if (v4.includes('.')) {
    const v = v4ToBigint(v4);
    text = `${text.slice(0, lastColon + 1)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [left = '', right] = text.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => BigInt(parseInt(g, 16))));
  const l = groups(left);
  const r = right === undefined ? [] : groups(right);
  const zeros = Array<bigint>(8 - l.length - r.length).fill(0n);
  return [...l, ...zeros, ...r].reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** Parses an IP address; IPv4-mapped IPv6 becomes IPv4. Undefined when not an address. */
export function parseIp(text: string): IpAddress | undefined {
  if (isIPv4(text)) return { family: 4, value: v4ToBigint(text) };
  // Zone ids (`fe80::1%eth0`) name an interface, not a sender we can configure.
  if (!isIPv6(text) || text.includes('%')) return undefined;
  const value = v6ToBigint(text);
  if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

/** `::ffff:192.0.2.1` → `192.0.2.1`; anything else unchanged. */
export function unmapIp(text: string): string {
  return text.length > 7 && text.slice(0, 7).toLowerCase() === '::ffff:' && isIPv4(text.slice(7)) ? text.slice(7) : text;
}

/** Parses `addr/prefix` or a bare address (a host route). Returns an error message when invalid. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const addr = parseIp(addrText.trim() === addrText ? addrText : '');
  if (!addr) return `"${text}" is not an IPv4 or IPv6 address or CIDR`;
  const mapped = !isIPv4(addrText) && addr.family === 4;
  const bits = addr.family === 4 ? 32 : 128;
  const writtenBits = mapped ? 128 : bits;
  let prefix = bits;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > writtenBits) return `"${text}": prefix length must be 0..${writtenBits}`;
    prefix = Number(p);
    if (mapped) {
      if (prefix < 96) return `"${text}": an IPv4-mapped prefix must be /96 or longer`;
      prefix -= 96;
    }
  }
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((addr.value & hostMask) !== 0n) {
    const net = addr.value & ~hostMask;
    return `"${text}" has host bits set; did you mean ${formatIp({ family: addr.family, value: net })}/${prefix}?`;
  }
  return { family: addr.family, network: addr.value, prefix, text };
}

export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((ip.value >> s) & 0xffffn).toString(16));
  // Good enough for messages; not the RFC 5952 shortest form.
  return groups.join(':');
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.family !== ip.family) return false;
  const bits = cidr.family === 4 ? 32 : 128;
  return ip.value >> BigInt(bits - cidr.prefix) === cidr.network >> BigInt(bits - cidr.prefix);
}

/**
 * Parses a list, reporting every invalid entry with its index path (e.g. `ingest.allowedSources[2]`)
 * so a configuration check can list all problems at once.
 */
export function parseCidrList(texts: readonly string[], path: string): { cidrs: Cidr[]; problems: Problem[] } {
  const cidrs: Cidr[] = [];
  const problems: Problem[] = [];
  texts.forEach((t, k) => {
    const r = parseCidr(t);
    if (typeof r === 'string') problems.push({ path: `${path}[${k}]`, message: r });
    else cidrs.push(r);
  });
  return { cidrs, problems };
}
