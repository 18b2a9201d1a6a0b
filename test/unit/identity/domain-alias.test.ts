// The domain-alias rule: `check`'s configuration warning and the run-time watch.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { defaultConfig, type IdentityConfig } from '../../../src/config/schema.js';
import { createDomainAliasWatch, domainAliasWarnings } from '../../../src/identity/domain-alias.js';
import { createLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import type { VpnEvent } from '../../../src/types.js';

const cfg = (over: Partial<IdentityConfig>): IdentityConfig => ({ ...defaultConfig().identity, ...over });

describe('domainAliasWarnings (check)', () => {
  it('warns when a VPN and its gateway map to different domains, after domainCase', () => {
    const w = domainAliasWarnings(
      cfg({
        gatewayByVpn: { 'JSC-VPN': 'JSC-GW', 'LAB-VPN': 'LAB-GW', 'ONLY-VPN': 'NOMAP-GW' },
        domainByVpn: { 'JSC-VPN': 'corp.example.com', 'LAB-VPN': 'Lab.Example.com', 'ONLY-VPN': 'x' },
        domainByGateway: { 'JSC-GW': 'example.com', 'LAB-GW': 'lab.example.com' },
      }),
    );
    expect(w).toEqual([
      'identity.domainByVpn["JSC-VPN"] is "corp.example.com" but its gateway\'s identity.domainByGateway["JSC-GW"] is "example.com": ' +
        'JIMS would get two domains for the users of gateway "JSC-GW"; give both the same domain (native PTIM refuses this)',
    ]);
    expect(
      domainAliasWarnings(
        cfg({
          domainCase: 'preserve',
          gatewayByVpn: { 'LAB-VPN': 'LAB-GW' },
          domainByVpn: { 'LAB-VPN': 'A' },
          domainByGateway: { 'LAB-GW': 'a' },
        }),
      ),
    ).toHaveLength(1);
  });
});

describe('createDomainAliasWatch', () => {
  function setup(windowSecs = 60) {
    const metrics = createMetrics();
    const logs: Record<string, unknown>[] = [];
    const logger = createLogger(
      { level: 'info' },
      new Writable({ write: (c: Buffer, _e, cb) => (logs.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }),
    );
    let now = 0;
    const watch = createDomainAliasWatch({ clock: { now: () => now }, windowSecs, metrics, logger });
    const count = async (object: string) =>
      (await metrics.domainAliasConflicts.get()).values.find((v) => v.labels.object === object)?.value ?? 0;
    return { watch, logs, count, advance: (ms: number) => (now += ms) };
  }
  const ev = (over: Partial<VpnEvent>): VpnEvent => ({
    kind: 'up',
    user: 'alice',
    domain: 'a.example',
    ips: ['10.0.0.1'],
    firewall: 'srx1',
    patternId: 'p',
    receivedAt: 0,
    ...over,
  });

  it('reports a VPN seen through two gateways with two domains once per pair, with the setting to fix', async () => {
    const { watch, logs, count } = setup();
    expect(watch.observe(ev({ vpn: 'V', gateway: 'G1', domain: 'a' }), 'domainByGateway')).toEqual([]);
    const [c, ...rest] = watch.observe(ev({ vpn: 'V', gateway: 'G2', domain: 'b' }), 'defaultDomain');
    expect(rest).toEqual([]);
    expect(c).toEqual({
      object: 'vpn',
      name: 'V',
      domains: [
        { domain: 'a', setting: 'identity.domainByGateway["G1"]' },
        { domain: 'b', setting: 'identity.defaultDomain' },
      ],
      fix: 'set identity.domainByVpn["V"] (it takes precedence over identity.domainByGateway["G1"] and identity.defaultDomain)',
    });
    for (let i = 0; i < 5; i++) {
      expect(watch.observe(ev({ vpn: 'V', gateway: 'G1', domain: 'a' }), 'domainByGateway')).toEqual([]);
      expect(watch.observe(ev({ vpn: 'V', gateway: 'G2', domain: 'b' }), 'defaultDomain')).toEqual([]);
    }
    expect(await count('vpn')).toBe(1);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 40, object: 'vpn', name: 'V', fix: c!.fix });
  });

  it('reports a gateway whose VPNs give it two domains', async () => {
    const { watch, count } = setup();
    watch.observe(ev({ vpn: 'V1', gateway: 'G', domain: 'a' }), 'domainByVpn');
    const found = watch.observe(ev({ vpn: 'V2', gateway: 'G', domain: 'b' }), 'domainByGateway');
    expect(found).toMatchObject([
      { object: 'gateway', name: 'G', fix: 'give identity.domainByVpn["V1"] and identity.domainByGateway["G"] the same domain' },
    ]);
    expect(await count('gateway')).toBe(1);
  });

  it('forgets a domain not seen for a window, and reports a pair again after one', () => {
    const { watch, advance } = setup(60);
    watch.observe(ev({ vpn: 'V', domain: 'a' }), 'defaultDomain');
    advance(61_000);
    expect(watch.observe(ev({ vpn: 'V', domain: 'b' }), 'domainByGateway')).toEqual([]);
    advance(30_000);
    expect(watch.observe(ev({ vpn: 'V', domain: 'a' }), 'defaultDomain')).toHaveLength(1);
    advance(30_000);
    expect(watch.observe(ev({ vpn: 'V', domain: 'b' }), 'domainByGateway')).toEqual([]);
    advance(31_000); // b seen 31 s ago, the pair reported 61 s ago
    expect(watch.observe(ev({ vpn: 'V', domain: 'a' }), 'defaultDomain')).toHaveLength(1);
  });

  it('leaves out domains users typed themselves', () => {
    const { watch } = setup();
    watch.observe(ev({ vpn: 'V', domain: 'a' }), 'username');
    expect(watch.observe(ev({ vpn: 'V', domain: 'b' }), 'defaultDomain')).toEqual([]);
    expect(watch.observe(ev({ vpn: 'V', domain: 'c' }), 'username')).toEqual([]);
  });
});
