// The opt-out (identity.excludeGateways / excludeVpns) and the name patterns it is written in.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { PtimError } from '../../../src/errors.js';
import { compileExclusions } from '../../../src/identity/exclude.js';
import { compileGlob } from '../../../src/identity/glob.js';

describe('compileGlob', () => {
  it('matches whole names: * any run, ? one character, the rest literally', () => {
    const g = compileGlob('gw-*-?');
    expect(g.test('gw-partner-1')).toBe(true);
    expect(g.test('gw--1')).toBe(true);
    expect(g.test('gw-partner-12')).toBe(false);
    expect(g.test('xgw-a-1')).toBe(false);
    expect(compileGlob('a.b').test('axb')).toBe(false);
    expect(compileGlob('*').test('')).toBe(true);
    expect(compileGlob('JSC-GW').test('jsc-gw')).toBe(false);
    expect(compileGlob('JSC-GW', { ignoreCase: true }).test('jsc-gw')).toBe(true);
    expect(compileGlob('J*W', { ignoreCase: true }).test('jsc-gw')).toBe(true);
  });

  it('agrees with the equivalent anchored regex on any input', () => {
    const alphabet = fc.constantFrom('a', 'b', '*', '?', '.');
    fc.assert(
      fc.property(
        fc.string({ unit: alphabet, maxLength: 8 }),
        fc.string({ unit: fc.constantFrom('a', 'b', '.'), maxLength: 12 }),
        (p, t) => {
          const re = new RegExp(`^${p.replace(/[.]/g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
          expect(compileGlob(p).test(t)).toBe(re.test(t));
        },
      ),
    );
  });

  it('stays linear on a pattern that would make a regex backtrack', () => {
    const g = compileGlob(`${'*a'.repeat(20)}*b`);
    expect(g.test('a'.repeat(1024))).toBe(false);
  });
});

describe('compileExclusions', () => {
  const x = compileExclusions({
    excludeGateways: ['gw-partner-*', { name: 'JSC-GW', firewall: 'srx-branch-*' }],
    excludeVpns: ['lab-vpn'],
  });

  it('names the setting that excluded a line', () => {
    expect(x.match({ firewall: 'srx1', gateway: 'gw-partner-7' })).toEqual({
      setting: 'identity.excludeGateways[0]',
      detail: 'gateway "gw-partner-7" is excluded by identity.excludeGateways[0] ("gw-partner-*")',
    });
    expect(x.match({ firewall: 'srx1', vpn: 'lab-vpn', gateway: 'JSC-GW' })?.setting).toBe('identity.excludeVpns[0]');
  });

  it('applies a per-firewall entry only on matching firewalls', () => {
    expect(x.match({ firewall: 'srx-hq', gateway: 'JSC-GW' })).toBeUndefined();
    expect(x.match({ firewall: 'srx-branch-3', gateway: 'JSC-GW' })).toMatchObject({
      setting: 'identity.excludeGateways[1]',
      detail: expect.stringContaining('on firewall "srx-branch-3"'),
    });
  });

  it('leaves lines without the named field alone', () => {
    expect(x.match({ firewall: 'srx1' })).toBeUndefined();
    expect(compileExclusions({ excludeGateways: [], excludeVpns: [] }).empty).toBe(true);
  });
});

describe('identity.excludeGateways / excludeVpns settings', () => {
  it('take names, patterns and {name, firewall}; a malformed entry is reported with its line and path', () => {
    const { config } = parseConfigText(
      'identity:\n  excludeGateways: [lab-gw, { name: "p-*", firewall: srx-b* }]\n  excludeVpns: ["*-test"]\n',
    );
    expect(config.identity.excludeGateways).toEqual(['lab-gw', { name: 'p-*', firewall: 'srx-b*' }]);
    expect(config.identity.excludeVpns).toEqual(['*-test']);
    try {
      parseConfigText('identity:\n  excludeGateways:\n    - { name: x }\n', { file: 'c.yaml' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PtimError);
      expect((e as PtimError).report()).toMatch(/c\.yaml:3:\d+ identity\.excludeGateways\[0\]/);
    }
  });
});
