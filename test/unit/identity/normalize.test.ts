import { describe, expect, it } from 'vitest';
import { defaultConfig, type IdentityConfig } from '../../../src/config/schema.js';
import { normalize, type MatchedLine } from '../../../src/identity/normalize.js';
import type { Fields } from '../../../src/match/transforms.js';
import type { RawMessage, SyslogMessage } from '../../../src/types.js';

const cfg = (over: Partial<IdentityConfig> = {}): IdentityConfig => ({ ...defaultConfig().identity, ...over });
const raw: RawMessage = {
  bytes: Buffer.alloc(0),
  transport: 'udp',
  sourceIp: '192.0.2.250',
  sourcePort: 514,
  receivedAt: 1000,
  truncated: false,
};
const msg: SyslogMessage = { format: 'rfc3164', hostname: 'srx1', timestamp: 'Mar  3 14:02:11', structuredData: [], text: '' };
const line = (fields: Fields, kind: MatchedLine['kind'] = 'up'): MatchedLine => ({ patternId: 'p', kind, fields });
const base: Fields = { user: 'alice', ip: ['10.10.50.11'], vpn: 'JSC-VPN', gateway: 'JSC-GW' };

function event(fields: Fields, c: IdentityConfig = cfg(), r: RawMessage = raw, kind: MatchedLine['kind'] = 'up') {
  const n = normalize(line(fields, kind), r, msg, c);
  if (n.type !== 'event') throw new Error(JSON.stringify(n));
  return n.event;
}
const reason = (fields: Fields, c: IdentityConfig = cfg(), r: RawMessage = raw) => {
  const n = normalize(line(fields), r, msg, c);
  return n.type === 'ignored' ? n.reason : 'event';
};

describe('normalize', () => {
  it('builds the event: user, ips, firewall, times', () => {
    expect(event(base)).toEqual({
      kind: 'up',
      user: 'alice',
      domain: '',
      ips: ['10.10.50.11'],
      firewall: 'srx1',
      vpn: 'JSC-VPN',
      gateway: 'JSC-GW',
      patternId: 'p',
      receivedAt: 1000,
      deviceTime: 'Mar  3 14:02:11',
    });
  });

  it('resolves the domain: username, then VPN, then gateway, then default', () => {
    const c = cfg({
      domainByVpn: { 'JSC-VPN': 'vpn.example.com' },
      domainByGateway: { 'JSC-GW': 'gw.example.com', other: 'x' },
      defaultDomain: 'example.net',
    });
    expect(event({ ...base, userDomain: 'example.com' }, c).domain).toBe('example.com');
    expect(event(base, c).domain).toBe('vpn.example.com');
    expect(event({ ...base, vpn: 'other-vpn' }, c).domain).toBe('gw.example.com');
    expect(event({ ...base, vpn: 'other-vpn', gateway: 'other-gw' }, c).domain).toBe('example.net');
    // Map lookups are own keys only: a VPN called "constructor" is not a domain.
    expect(event({ ...base, vpn: 'constructor', gateway: 'toString' }, c).domain).toBe('example.net');
  });

  it('applies the configured case to user and domain', () => {
    const f = { ...base, user: 'Carol', userDomain: 'EXAMPLE' };
    expect(event(f)).toMatchObject({ user: 'Carol', domain: 'example' });
    expect(event(f, cfg({ usernameCase: 'lower', domainCase: 'upper' }))).toMatchObject({ user: 'carol', domain: 'EXAMPLE' });
    expect(event(f, cfg({ domainCase: 'preserve' }))).toMatchObject({ domain: 'EXAMPLE' });
  });

  it('treats placeholder users as "no user", case-insensitively', () => {
    for (const u of ['Not-Applicable', 'Not-applicable', 'NOT-AVAILABLE', '', '  '])
      expect(reason({ ...base, user: u }), u).toBe('placeholder_user');
    expect(reason({ ip: ['10.10.50.11'] })).toBe('placeholder_user');
    expect(reason({ ...base, user: 'nobody' }, cfg({ placeholderUsers: ['NOBODY'] }))).toBe('placeholder_user');
  });

  it('falls back to a user@domain Remote IKE-ID only when ikeIdFallback is on', () => {
    const f = { ...base, user: 'Not-applicable', ikeId: 'user1', ikeIdDomain: 'psk.auth' };
    expect(reason(f)).toBe('placeholder_user');
    expect(event(f, cfg({ ikeIdFallback: true }))).toMatchObject({ user: 'user1', domain: 'psk.auth' });
    // A shared IKE id with no user part (`@t1.auth`) is never a user.
    expect(reason({ ...f, ikeId: '', ikeIdDomain: 't1.auth' }, cfg({ ikeIdFallback: true }))).toBe('placeholder_user');
    // An IKE id without a domain (an address, a hostname) is not a user either.
    expect(reason({ ...base, user: 'Not-Applicable', ikeId: '198.51.100.5' }, cfg({ ikeIdFallback: true }))).toBe(
      'placeholder_user',
    );
  });

  it('keeps dual-stack addresses, one per family, validated and canonical', () => {
    expect(event({ ...base, ip: ['2001:DB8:141::13', '10.1.11.19'] }).ips).toEqual(['10.1.11.19', '2001:db8:141::13']);
    expect(event({ ...base, ip: ['10.1.11.19', '10.1.11.20'] }).ips).toEqual(['10.1.11.19']);
    expect(event({ ...base, ip: '192.0.2.7' }).ips).toEqual(['192.0.2.7']);
    expect(reason({ ...base, ip: [] })).toBe('no_ip');
    expect(reason({ ...base, ip: ['999.1.1.1', 'Not-Available'] })).toBe('no_ip');
  });

  it('ignores truncated messages and oversized or control-character fields', () => {
    expect(reason(base, cfg(), { ...raw, truncated: true })).toBe('truncated');
    expect(normalize(line({ ...base, reason: 'x'.repeat(2000) }), raw, msg, cfg(), { maxFieldBytes: 1024 })).toMatchObject({
      reason: 'invalid_field',
    });
    expect(reason({ ...base, user: 'ali\nce' })).toBe('invalid_field');
  });

  it('names the firewall: configured name, else syslog hostname, else source address', () => {
    expect(event(base, cfg(), { ...raw, firewall: 'hq' }).firewall).toBe('hq');
    expect(normalize(line(base), raw, { ...msg, hostname: undefined }, cfg())).toMatchObject({
      event: { firewall: '192.0.2.250' },
    });
  });

  it('lets a rekey signal through without a user, and keeps the reason only on down', () => {
    expect(event({ ip: ['10.10.50.11'] }, cfg({ defaultDomain: 'example.com' }), raw, 'rekey-signal')).toMatchObject({
      kind: 'rekey-signal',
      user: '',
      domain: 'example.com',
    });
    expect(event({ ...base, reason: 'DPD timeout' }, cfg(), raw, 'down').reason).toBe('DPD timeout');
    expect(event({ ...base, reason: 'x' }).reason).toBeUndefined();
  });

  it('says which setting gave the domain', () => {
    const c = cfg({ domainByVpn: { 'JSC-VPN': 'a' }, domainByGateway: { 'JSC-GW': 'b' } });
    const from = (f: Fields) => {
      const n = normalize(line(f), raw, msg, c);
      return n.type === 'event' ? n.domainFrom : n.reason;
    };
    expect(from({ ...base, userDomain: 'x' })).toBe('username');
    expect(from(base)).toBe('domainByVpn');
    expect(from({ ...base, vpn: 'other' })).toBe('domainByGateway');
    expect(from({ ...base, vpn: 'other', gateway: 'other' })).toBe('defaultDomain');
  });

  it('excludes lines of an excluded gateway or VPN, on every firewall or only the named ones', () => {
    const c = cfg({ excludeGateways: [{ name: 'JSC-*', firewall: 'srx1' }], excludeVpns: ['lab'] });
    expect(normalize(line(base), raw, msg, c)).toEqual({
      type: 'ignored',
      reason: 'excluded',
      setting: 'identity.excludeGateways[0]',
      detail: 'gateway "JSC-GW" on firewall "srx1" (matches "srx1") is excluded by identity.excludeGateways[0] ("JSC-*")',
    });
    expect(reason(base, c, { ...raw, firewall: 'srx2' })).toBe('event');
    // Before any judgement of the content: an excluded site-to-site line is "excluded", and so is a DOWN.
    expect(reason({ ...base, vpn: 'lab', user: 'Not-Applicable' }, c)).toBe('excluded');
    expect(normalize(line({ ...base, vpn: 'lab' }, 'down'), raw, msg, c)).toMatchObject({ reason: 'excluded' });
  });
});
