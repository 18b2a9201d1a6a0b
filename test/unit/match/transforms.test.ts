import { describe, expect, it } from 'vitest';
import { applyTransforms, splitUser, tsAddresses, type FieldValue } from '../../../src/match/transforms.js';

describe('tsAddresses', () => {
  it.each([
    ['ipv4(0,0-65535,10.1.11.18-10.1.11.18)', ['10.1.11.18']],
    [
      'ipv4(0,0-65535,10.1.11.18-10.1.11.18) ipv6(0,0-65535,2001:db8:141::12-2001:db8:141::12) ',
      ['10.1.11.18', '2001:db8:141::12'],
    ],
    ['ipv6(0,0-65535,2001:DB8:0:0::12-2001:DB8:0:0::12)', ['2001:db8::12']],
    ['ipv4(10.10.50.11)', ['10.10.50.11']],
    ['ipv4(198.51.100.7-198.51.100.7)', ['198.51.100.7']],
    ['ipv4_subnet(any:0,[0..7]=192.0.2.9/32)', ['192.0.2.9']],
  ])('%s → %j', (ts, want) => expect(tsAddresses(ts)).toEqual(want));

  it.each([
    'ipv4(0,0-65535,0.0.0.0-255.255.255.255)',
    'ipv4(0,0-65535,10.1.1.0-10.1.1.255)',
    'ipv6(0,0-65535,::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff)',
    'ipv4_subnet(any:0,[0..7]=0.0.0.0/0)',
    'ipv4(89.160.20.112-89.160.20.114)',
    'ipv4(not-an-ip)',
    'ipv4(2001:db8::1)',
    'ipv4(0,0-65535,10.30.0.1',
    '',
  ])('%s → no address', (ts) => expect(tsAddresses(ts)).toEqual([]));

  it('keeps one address per family (the first)', () => {
    expect(tsAddresses('ipv4(192.0.2.1) ipv4(192.0.2.2)')).toEqual(['192.0.2.1']);
  });
});

describe('splitUser', () => {
  it.each([
    ['alice', { user: 'alice' }],
    ['alice@example.com', { user: 'alice', domain: 'example.com' }],
    ['EXAMPLE\\carol', { user: 'carol', domain: 'EXAMPLE' }],
    [' Grace Hopper ', { user: 'Grace Hopper' }],
    ['@t1.auth', { user: '', domain: 't1.auth' }],
  ])('%s', (raw, want) => expect(splitUser(raw)).toEqual(want));
});

describe('applyTransforms', () => {
  const run = (field: string, value: string, names: string[]) => {
    const out: Record<string, FieldValue> = {};
    applyTransforms(field, value, names, out);
    return out;
  };
  it('user splits into the field and <field>Domain', () => {
    expect(run('user', 'bob@example.com', ['user'])).toEqual({ user: 'bob', userDomain: 'example.com' });
  });
  it('address drops what is not an address', () => {
    expect(run('peerIp', 'Not-Available', ['address'])).toEqual({});
    expect(run('peerIp', '<VPN_GW_PUBLIC_IP>', ['address'])).toEqual({});
    expect(run('peerIp', '2001:DB8::1', ['address'])).toEqual({ peerIp: '2001:db8::1' });
  });
  it('chains in order', () => {
    expect(run('reason', '  Peer sent delete ', ['trim'])).toEqual({ reason: 'Peer sent delete' });
    expect(run('ip', 'ipv4(10.10.50.11)', ['ts_addresses'])).toEqual({ ip: ['10.10.50.11'] });
  });
});
