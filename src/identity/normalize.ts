// Identity normalization: the matched fields of one line → a VpnEvent (user without domain,
// resolved domain, validated mapped IPs, firewall name), or the reason no event is due.
// Pure and total: bad input yields an ignored reason, never an exception.
import { isIP } from 'node:net';
import type { IdentityConfig } from '../config/schema.js';
import { canonicalIp } from './ip.js';
import type { RawMessage, SyslogMessage, VpnEvent, VpnEventKind } from '../types.js';
import type { FieldValue, Fields } from '../match/transforms.js';
import { exclusionsOf } from './exclude.js';

export type IgnoredReason = 'placeholder_user' | 'no_ip' | 'truncated' | 'invalid_field' | 'excluded';

/** Where the event's domain came from: the username itself, or the setting that gave it. */
export type DomainSource = 'username' | 'domainByVpn' | 'domainByGateway' | 'defaultDomain';

export type NormalizeResult =
  | { readonly type: 'event'; readonly event: VpnEvent; readonly domainFrom: DomainSource }
  | {
      readonly type: 'ignored';
      readonly reason: IgnoredReason;
      readonly detail: string;
      /** With `excluded`: the setting that excluded the line, e.g. `identity.excludeGateways[0]`. */
      readonly setting?: string;
    };

export interface MatchedLine {
  readonly patternId: string;
  readonly kind: VpnEventKind;
  readonly fields: Fields;
}

export interface NormalizeOptions {
  /** A captured field longer than this (UTF-8 bytes) makes the line `invalid_field`. */
  readonly maxFieldBytes?: number;
}

/** C0 controls and DEL never belong in a name (a binary IKE-ID leaking into a field does). */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

const str = (v: FieldValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

function applyCase(s: string, mode: IdentityConfig['usernameCase']): string {
  return mode === 'lower' ? s.toLowerCase() : mode === 'upper' ? s.toUpperCase() : s;
}

function isPlaceholder(user: string | undefined, cfg: IdentityConfig): boolean {
  if (user === undefined) return true;
  const u = user.trim().toLowerCase();
  return u === '' || cfg.placeholderUsers.some((p) => p.trim().toLowerCase() === u);
}

const lookup = (map: Readonly<Record<string, string>>, key: string | undefined): string | undefined =>
  key !== undefined && Object.hasOwn(map, key) ? map[key] : undefined;

const ignored = (reason: IgnoredReason, detail: string): NormalizeResult => ({ type: 'ignored', reason, detail });

export function normalize(
  line: MatchedLine,
  raw: RawMessage,
  msg: SyslogMessage,
  cfg: IdentityConfig,
  opts: NormalizeOptions = {},
): NormalizeResult {
  // A cut line may have lost the end of its last field (a DOWN reason, an address): no event.
  if (raw.truncated) return ignored('truncated', 'the receiver cut this message at ingest.maxMessageBytes');
  const f = line.fields;

  const maxBytes = opts.maxFieldBytes ?? 1024;
  for (const [k, v] of Object.entries(f)) {
    const parts: readonly string[] = typeof v === 'string' ? [v] : Array.isArray(v) ? v : [];
    if (parts.some((s) => Buffer.byteLength(s, 'utf8') > maxBytes))
      return ignored('invalid_field', `field ${k} is longer than ${maxBytes} bytes`);
  }

  // The operator's opt-out comes before any judgement of the line's content: an excluded gateway
  // says nothing to JIMS, whether or not its line would have made an event.
  const vpn = str(f.vpn);
  const gateway = str(f.gateway);
  const firewall = raw.firewall ?? msg.hostname ?? raw.sourceIp;
  const excluded = exclusionsOf(cfg).match({ firewall, vpn, gateway });
  if (excluded) return { type: 'ignored', reason: 'excluded', detail: excluded.detail, setting: excluded.setting };

  // User: the AAA username; a placeholder means site-to-site (no user) unless the operator
  // allows the per-user Remote IKE-ID (`user@domain`) to stand in for it.
  let user = str(f.user);
  let userDomain = str(f.userDomain);
  if (isPlaceholder(user, cfg)) {
    const ikeUser = str(f.ikeId);
    const ikeDomain = str(f.ikeIdDomain);
    if (cfg.ikeIdFallback && ikeUser && ikeDomain && !isPlaceholder(ikeUser, cfg)) {
      user = ikeUser;
      userDomain = ikeDomain;
    } else if (line.kind !== 'rekey-signal') {
      return ignored(
        'placeholder_user',
        `no user (AAA username ${JSON.stringify(str(f.user) ?? '')}): site-to-site or not a user tunnel`,
      );
    } else {
      // A rekey signal names only the IP; the session engine knows whose it is.
      user = '';
      userDomain = undefined;
    }
  }
  user = (user ?? '').trim();
  if (CONTROL.test(user) || (userDomain !== undefined && CONTROL.test(userDomain)))
    return ignored('invalid_field', 'the username contains control characters');

  const ips = mappedIps(f.ip);
  if (ips.length === 0) return ignored('no_ip', 'no single mapped address in the traffic selector');

  const { domain, domainFrom } = resolveDomain(userDomain, vpn, gateway, cfg);

  const peerIp = str(f.peerIp);
  const tunnelId = str(f.tunnelId);
  const reason = line.kind === 'down' ? str(f.reason) : undefined;
  const event: VpnEvent = {
    kind: line.kind,
    user: applyCase(user, cfg.usernameCase),
    domain: applyCase(domain, cfg.domainCase),
    ips,
    firewall,
    ...(vpn !== undefined ? { vpn } : {}),
    ...(gateway !== undefined ? { gateway } : {}),
    ...(peerIp !== undefined ? { peerIp } : {}),
    ...(tunnelId !== undefined ? { tunnelId } : {}),
    ...(reason !== undefined ? { reason } : {}),
    patternId: line.patternId,
    receivedAt: raw.receivedAt,
    ...(msg.timestamp !== undefined ? { deviceTime: msg.timestamp } : {}),
  };
  return { type: 'event', event, domainFrom };
}

/** Mapped IPs: validated, canonical, one per family, IPv4 first (each becomes its own session). */
function mappedIps(field: FieldValue | undefined): string[] {
  const rawIps = field === undefined ? [] : typeof field === 'string' ? [field] : field;
  const byFamily = new Map<number, string>();
  for (const candidate of rawIps) {
    const fam = isIP(candidate.trim());
    const ip = fam ? canonicalIp(candidate.trim()) : undefined;
    if (ip !== undefined && !byFamily.has(fam)) byFamily.set(fam, ip);
  }
  return [...byFamily.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}

/** The username's own domain, else the VPN's, else the gateway's, else the default; and which one. */
function resolveDomain(
  userDomain: string | undefined,
  vpn: string | undefined,
  gateway: string | undefined,
  cfg: IdentityConfig,
): { domain: string; domainFrom: DomainSource } {
  const own = userDomain?.trim();
  if (own) return { domain: own, domainFrom: 'username' };
  const byVpn = lookup(cfg.domainByVpn, vpn);
  if (byVpn !== undefined) return { domain: byVpn, domainFrom: 'domainByVpn' };
  const byGateway = lookup(cfg.domainByGateway, gateway);
  if (byGateway !== undefined) return { domain: byGateway, domainFrom: 'domainByGateway' };
  return { domain: cfg.defaultDomain, domainFrom: 'defaultDomain' };
}
