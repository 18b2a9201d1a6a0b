// The opt-out, as native PTIM's `no-push-to-identity-management` per IKE gateway: lines of an
// excluded gateway or VPN (optionally only on some firewalls) yield no event. Pure.
import type { IdentityConfig } from '../config/schema.js';
import { compileGlob, type Glob } from './glob.js';

/** One `identity.excludeGateways` / `identity.excludeVpns` entry: a name pattern, optionally per firewall. */
export type ExcludeEntry = string | { readonly name: string; readonly firewall: string };

export interface Exclusion {
  /** The setting that excluded the line, e.g. `identity.excludeGateways[2]`. */
  readonly setting: string;
  /** Human text: what matched what. */
  readonly detail: string;
}

export interface LineNames {
  readonly firewall: string;
  readonly vpn?: string;
  readonly gateway?: string;
}

interface Rule {
  readonly setting: string;
  readonly field: 'vpn' | 'gateway';
  readonly name: Glob;
  readonly firewall?: Glob;
}

export interface Exclusions {
  /** The first rule that excludes a line with these names, or undefined. */
  match(names: LineNames): Exclusion | undefined;
  readonly empty: boolean;
}

function rules(field: Rule['field'], key: string, entries: readonly ExcludeEntry[]): Rule[] {
  return entries.map((e, i) =>
    typeof e === 'string'
      ? { setting: `identity.${key}[${i}]`, field, name: compileGlob(e) }
      : { setting: `identity.${key}[${i}]`, field, name: compileGlob(e.name), firewall: compileGlob(e.firewall) },
  );
}

export function compileExclusions(cfg: Pick<IdentityConfig, 'excludeGateways' | 'excludeVpns'>): Exclusions {
  const all = [...rules('gateway', 'excludeGateways', cfg.excludeGateways), ...rules('vpn', 'excludeVpns', cfg.excludeVpns)];
  return {
    empty: all.length === 0,
    match(names) {
      for (const r of all) {
        const value = names[r.field];
        if (value === undefined || !r.name.test(value)) continue;
        if (r.firewall && !r.firewall.test(names.firewall)) continue;
        const on = r.firewall
          ? ` on firewall ${JSON.stringify(names.firewall)} (matches ${JSON.stringify(r.firewall.source)})`
          : '';
        return {
          setting: r.setting,
          detail: `${r.field} ${JSON.stringify(value)}${on} is excluded by ${r.setting} (${JSON.stringify(r.name.source)})`,
        };
      }
      return undefined;
    },
  };
}

const cache = new WeakMap<object, Exclusions>();

/** The compiled exclusions of one (frozen) identity config, built once per config object. */
export function exclusionsOf(cfg: IdentityConfig): Exclusions {
  let x = cache.get(cfg);
  if (!x) {
    x = compileExclusions(cfg);
    cache.set(cfg, x);
  }
  return x;
}
