// Who may send syslog, and which firewall a sender is: the allow-list (`ingest.allowedSources`)
// and the name map (`firewalls: [{source, name}]`, first match wins). Pure; built once from config.
import type { Problem } from '../errors.js';
import type { Config } from '../config/schema.js';
import { cidrContains, parseCidrList, parseIp, unmapIp, type Cidr } from '../net/cidr.js';

export interface SourceVerdict {
  readonly allowed: boolean;
  /** Configured firewall name for the sender, if any. */
  readonly firewall?: string;
}

export interface SourcePolicy {
  /** `ip` as a socket reports it (IPv4-mapped IPv6 accepted). Never throws. */
  check(ip: string): SourceVerdict;
}

type SourcesConfig = { readonly ingest: Pick<Config['ingest'], 'allowedSources'>; readonly firewalls: Config['firewalls'] };

/** Every invalid CIDR in the allow-list and the firewall map, each with its path. */
export function validateSources(cfg: SourcesConfig): Problem[] {
  return compile(cfg).problems;
}

/** Senders repeat, so verdicts are cached; the cache is cleared when full to stay bounded. */
const CACHE_MAX = 4096;
const DENY: SourceVerdict = { allowed: false };

/** Builds the policy, or returns every problem found (never just the first). */
export function createSourcePolicy(
  cfg: SourcesConfig,
): { policy: SourcePolicy; problems: [] } | { policy?: undefined; problems: Problem[] } {
  const { allow, names, problems } = compile(cfg);
  if (problems.length > 0) return { problems };
  const cache = new Map<string, SourceVerdict>();
  const decide = (text: string): SourceVerdict => {
    const ip = parseIp(unmapIp(text));
    if (!ip || !allow.some((c) => cidrContains(c, ip))) return DENY;
    const firewall = names.find((n) => cidrContains(n.cidr, ip))?.name;
    return firewall === undefined ? { allowed: true } : { allowed: true, firewall };
  };
  return {
    problems: [],
    policy: {
      check(text: string): SourceVerdict {
        let v = cache.get(text);
        if (v === undefined) {
          if (cache.size >= CACHE_MAX) cache.clear();
          v = decide(text);
          cache.set(text, v);
        }
        return v;
      },
    },
  };
}

function compile(cfg: SourcesConfig) {
  const { cidrs: allow, problems } = parseCidrList(cfg.ingest.allowedSources, 'ingest.allowedSources');
  const names: { cidr: Cidr; name: string }[] = [];
  cfg.firewalls.forEach((fw, k) => {
    const r = parseCidrList([fw.source], `firewalls[${k}].source`);
    problems.push(...r.problems.map((p) => ({ ...p, path: `firewalls[${k}].source` })));
    for (const cidr of r.cidrs) names.push({ cidr, name: fw.name });
  });
  return { allow, names, problems };
}
