// The domain-alias rule, as native PTIM enforces it: one IPsec VPN (and so one gateway) must give
// its users one domain, or JIMS holds the same users under two domains. The bridge's domain maps
// can disagree, so this checks the configuration (for `check`) and watches what the pipeline
// actually derives (a VPN or gateway seen with two domains within a window).
import type { IdentityConfig } from '../config/schema.js';
import { createEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock, VpnEvent } from '../types.js';
import type { DomainSource } from './normalize.js';

const q = JSON.stringify;

/**
 * `check`'s warnings: every VPN of `identity.gatewayByVpn` whose `domainByVpn` and whose gateway's
 * `domainByGateway` are both set and differ (compared as JIMS will hear them, after `domainCase`).
 */
export function domainAliasWarnings(cfg: IdentityConfig): string[] {
  const fold = (d: string) => (cfg.domainCase === 'lower' ? d.toLowerCase() : cfg.domainCase === 'upper' ? d.toUpperCase() : d);
  const out: string[] = [];
  for (const [vpn, gateway] of Object.entries(cfg.gatewayByVpn)) {
    if (!Object.hasOwn(cfg.domainByVpn, vpn) || !Object.hasOwn(cfg.domainByGateway, gateway)) continue;
    const dv = cfg.domainByVpn[vpn]!;
    const dg = cfg.domainByGateway[gateway]!;
    if (fold(dv) === fold(dg)) continue;
    out.push(
      `identity.domainByVpn[${q(vpn)}] is ${q(dv)} but its gateway's identity.domainByGateway[${q(gateway)}] is ${q(dg)}: ` +
        `JIMS would get two domains for the users of gateway ${q(gateway)}; give both the same domain (native PTIM refuses this)`,
    );
  }
  return out;
}

/** The setting a derived domain came from, as an operator would edit it. */
export function domainSetting(from: DomainSource, event: Pick<VpnEvent, 'vpn' | 'gateway'>): string {
  if (from === 'domainByVpn') return `identity.domainByVpn[${q(event.vpn ?? '')}]`;
  if (from === 'domainByGateway') return `identity.domainByGateway[${q(event.gateway ?? '')}]`;
  return `identity.${from}`;
}

export type AliasObject = 'vpn' | 'gateway';

export interface DomainAliasConflict {
  readonly object: AliasObject;
  readonly name: string;
  /** The two domains, each with the setting that gave it (oldest first). */
  readonly domains: readonly { readonly domain: string; readonly setting: string }[];
  readonly fix: string;
}

export interface DomainAliasWatchOptions {
  readonly clock: Clock;
  readonly windowSecs: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Names remembered at most (VPNs and gateways together); the oldest are forgotten beyond it. */
  readonly maxNames?: number;
}

export interface DomainAliasWatch {
  /** Notes one event's domain; returns the conflicts it revealed for the first time in the window. */
  observe(event: VpnEvent, from: DomainSource): DomainAliasConflict[];
}

interface Seen {
  readonly setting: string;
  at: number;
}

/**
 * Remembers, per VPN and per gateway name, which domain (and from which setting) it was last seen
 * with. A second domain within the window is a conflict: counted and logged once per pair and
 * window. Domains users typed themselves (`alice@example.com`) are theirs, not a setting's, and
 * are left out. Memory is bounded by `maxNames`.
 */
export function createDomainAliasWatch(opts: DomainAliasWatchOptions): DomainAliasWatch {
  const windowMs = opts.windowSecs * 1000;
  const maxNames = opts.maxNames ?? 10_000;
  const emit = createEvents({ metrics: opts.metrics, logger: opts.logger, now: () => opts.clock.now() });
  /** `object\0name` → domain → when last seen; Map order is least recently touched first. */
  const names = new Map<string, Map<string, Seen>>();
  /** `object\0name\0domainA\0domainB` → when reported. */
  const reported = new Map<string, number>();

  const touch = <V>(m: Map<string, V>, key: string, value: V) => {
    m.delete(key);
    m.set(key, value);
    if (m.size > maxNames) m.delete(m.keys().next().value!);
  };

  function check(object: AliasObject, name: string, domain: string, setting: string, now: number): DomainAliasConflict[] {
    const key = `${object}\0${name}`;
    const seen = names.get(key) ?? new Map<string, Seen>();
    const found: DomainAliasConflict[] = [];
    for (const [other, s] of seen) {
      if (now - s.at > windowMs) seen.delete(other);
      else if (other !== domain) {
        const pair = `${key}\0${[other, domain].sort().join('\0')}`;
        const last = reported.get(pair);
        if (last !== undefined && now - last <= windowMs) continue;
        touch(reported, pair, now);
        found.push(
          conflict(object, name, [
            { domain: other, setting: s.setting },
            { domain, setting },
          ]),
        );
      }
    }
    const mine = seen.get(domain);
    if (mine && mine.setting === setting) mine.at = now;
    else seen.set(domain, { setting, at: now });
    touch(names, key, seen);
    return found;
  }

  function report(c: DomainAliasConflict): void {
    emit('domain_alias_conflict', { labels: { object: c.object }, name: c.name, domains: c.domains, fix: c.fix });
  }

  return {
    observe(event, from) {
      if (from === 'username') return [];
      const now = opts.clock.now();
      const setting = domainSetting(from, event);
      const found = [
        ...(event.vpn !== undefined ? check('vpn', event.vpn, event.domain, setting, now) : []),
        ...(event.gateway !== undefined ? check('gateway', event.gateway, event.domain, setting, now) : []),
      ];
      for (const c of found) report(c);
      return found;
    },
  };
}

function conflict(object: AliasObject, name: string, domains: DomainAliasConflict['domains']): DomainAliasConflict {
  const settings = [...new Set(domains.map((d) => d.setting))].join(' and ');
  const fix =
    object === 'vpn'
      ? `set identity.domainByVpn[${q(name)}] (it takes precedence over ${settings})`
      : `give ${settings} the same domain`;
  return { object, name, domains, fix };
}
