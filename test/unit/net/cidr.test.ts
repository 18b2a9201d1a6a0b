import { describe, expect, it } from 'vitest';
import { cidrContains, parseCidr, parseCidrList, parseIp, unmapIp, type Cidr } from '../../../src/net/cidr.js';

const cidr = (t: string): Cidr => {
  const r = parseCidr(t);
  if (typeof r === 'string') throw new Error(r);
  return r;
};
const inside = (c: string, ip: string) => cidrContains(cidr(c), parseIp(ip)!);

describe('parseIp / unmapIp', () => {
  it('reads IPv4, IPv6 (compressed, full, embedded IPv4) and treats IPv4-mapped IPv6 as IPv4', () => {
    expect(parseIp('192.0.2.7')).toEqual({ family: 4, value: 0xc0000207n });
    expect(parseIp('::ffff:192.0.2.7')).toEqual({ family: 4, value: 0xc0000207n });
    expect(parseIp('::FFFF:c000:207')).toEqual({ family: 4, value: 0xc0000207n });
    expect(parseIp('2001:db8::1')).toEqual({ family: 6, value: (0x20010db8n << 96n) | 1n });
    expect(parseIp('2001:0db8:0:0:0:0:0:1')).toEqual(parseIp('2001:db8::1'));
    expect(parseIp('::1')).toEqual({ family: 6, value: 1n });
    expect(parseIp('64:ff9b::192.0.2.1')).toEqual({ family: 6, value: (0x64ff9bn << 96n) | 0xc0000201n });
  });

  it('rejects non-addresses and zone ids', () => {
    for (const bad of ['', '192.0.2', '192.0.2.256', 'example.com', '2001:db8:::1', 'fe80::1%eth0', ' 192.0.2.1'])
      expect(parseIp(bad)).toBeUndefined();
  });

  it('unmaps ::ffff:a.b.c.d and leaves everything else alone', () => {
    expect(unmapIp('::ffff:198.51.100.4')).toBe('198.51.100.4');
    expect(unmapIp('2001:db8::4')).toBe('2001:db8::4');
    expect(unmapIp('203.0.113.9')).toBe('203.0.113.9');
  });
});

describe('parseCidr / cidrContains', () => {
  it('matches IPv4 networks, host routes and /0', () => {
    expect(inside('192.0.2.0/24', '192.0.2.255')).toBe(true);
    expect(inside('192.0.2.0/24', '192.0.3.0')).toBe(false);
    expect(inside('198.51.100.7', '198.51.100.7')).toBe(true);
    expect(inside('198.51.100.7', '198.51.100.8')).toBe(false);
    expect(inside('0.0.0.0/0', '203.0.113.1')).toBe(true);
  });

  it('matches IPv6 networks and never across families', () => {
    expect(inside('2001:db8::/32', '2001:db8:ffff::1')).toBe(true);
    expect(inside('2001:db8::/32', '2001:db9::1')).toBe(false);
    expect(inside('::/0', '192.0.2.1')).toBe(false);
    expect(inside('0.0.0.0/0', '2001:db8::1')).toBe(false);
  });

  it('treats an IPv4-mapped address as IPv4 on both sides', () => {
    expect(inside('192.0.2.0/24', '::ffff:192.0.2.9')).toBe(true);
    expect(inside('::ffff:192.0.2.0/120', '192.0.2.9')).toBe(true);
    expect(inside('::ffff:192.0.2.0/120', '192.0.3.9')).toBe(false);
    expect(cidr('::ffff:0:0/96')).toMatchObject({ family: 4, prefix: 0 });
  });

  it('explains what is wrong', () => {
    expect(parseCidr('192.0.2.1/24')).toMatch(/host bits set; did you mean 192\.0\.2\.0\/24/);
    expect(parseCidr('192.0.2.0/33')).toMatch(/prefix length must be 0\.\.32/);
    expect(parseCidr('2001:db8::/129')).toMatch(/0\.\.128/);
    expect(parseCidr('::ffff:192.0.2.0/64')).toMatch(/\/96 or longer/);
    expect(parseCidr('192.0.2.0/')).toMatch(/prefix length/);
    expect(parseCidr('192.0.2.0/+8')).toMatch(/prefix length/);
    expect(parseCidr('example.com/24')).toMatch(/not an IPv4 or IPv6/);
  });
});

describe('parseCidrList', () => {
  it('reports every invalid entry with its index path, and keeps the valid ones', () => {
    const r = parseCidrList(['10.0.0.0/8', 'nonsense', '::1/128', '192.0.2.1/24'], 'ingest.allowedSources');
    expect(r.cidrs.map((c) => c.text)).toEqual(['10.0.0.0/8', '::1/128']);
    expect(r.problems.map((p) => p.path)).toEqual(['ingest.allowedSources[1]', 'ingest.allowedSources[3]']);
    expect(r.problems[0]!.message).toMatch(/nonsense/);
  });
});
