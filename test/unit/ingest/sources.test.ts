import { describe, expect, it } from 'vitest';
import { createSourcePolicy, validateSources } from '../../../src/ingest/sources.js';

const cfg = (allowedSources: string[], firewalls: { source: string; name: string }[] = []) => ({
  ingest: { allowedSources },
  firewalls,
});

describe('source policy', () => {
  it('allows only listed senders, IPv4-mapped senders included', () => {
    const { policy } = createSourcePolicy(cfg(['192.0.2.0/24', '2001:db8::/32']));
    expect(policy!.check('192.0.2.5').allowed).toBe(true);
    expect(policy!.check('::ffff:192.0.2.5').allowed).toBe(true);
    expect(policy!.check('2001:db8::5').allowed).toBe(true);
    expect(policy!.check('203.0.113.5').allowed).toBe(false);
    expect(policy!.check('not-an-ip').allowed).toBe(false);
    expect(policy!.check('').allowed).toBe(false);
  });

  it('names the firewall by the first matching entry, and only for allowed senders', () => {
    const { policy } = createSourcePolicy(
      cfg(
        ['192.0.2.0/24', '198.51.100.0/24'],
        [
          { source: '192.0.2.10', name: 'srx-hq' },
          { source: '192.0.2.0/24', name: 'srx-lab' },
          { source: '203.0.113.0/24', name: 'not-allowed' },
        ],
      ),
    );
    expect(policy!.check('192.0.2.10')).toEqual({ allowed: true, firewall: 'srx-hq' });
    expect(policy!.check('192.0.2.11')).toEqual({ allowed: true, firewall: 'srx-lab' });
    expect(policy!.check('198.51.100.1')).toEqual({ allowed: true });
    expect(policy!.check('203.0.113.1')).toEqual({ allowed: false });
  });

  it('gives the same answers once its cache has been cycled', () => {
    const { policy } = createSourcePolicy(cfg(['10.0.0.0/8']));
    for (let k = 0; k < 5000; k++) policy!.check(`10.0.${k >> 8}.${k & 255}`);
    expect(policy!.check('10.0.0.1').allowed).toBe(true);
    expect(policy!.check('192.0.2.1').allowed).toBe(false);
  });

  it('reports every invalid CIDR in both lists at once, with paths', () => {
    const c = cfg(
      ['10.0.0.0/8', 'bogus', '10.0.0.1/8'],
      [
        { source: '192.0.2.0/24', name: 'a' },
        { source: '192.0.2.300', name: 'b' },
      ],
    );
    expect(validateSources(c).map((p) => p.path)).toEqual([
      'ingest.allowedSources[1]',
      'ingest.allowedSources[2]',
      'firewalls[1].source',
    ]);
    const built = createSourcePolicy(c);
    expect(built.policy).toBeUndefined();
    expect(built.problems).toHaveLength(3);
  });
});
