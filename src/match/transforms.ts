// The fixed set of field transforms a pattern may declare, plus the two value readers that
// normalization shares with them (traffic-selector addresses, user/domain split). Pure.
import { canonicalIp } from '../identity/ip.js';

/** A captured field after transforms: text, or a list (addresses). */
export type FieldValue = string | readonly string[];
export type Fields = Readonly<Record<string, FieldValue>>;

/**
 * A transform maps one captured value to the value stored under the same field name, plus
 * optional extra fields (e.g. `user` also yields `<name>Domain`). `undefined` means "no value":
 * the field is left out, exactly as if the pattern had not captured it.
 */
export type Transform = (value: string, field: string) => { value?: FieldValue; extra?: Record<string, string> };

/** Traffic-selector ids of both stacks: `ipv4(…)`, `ipv6(…)`, `ipv4_subnet(…)`, `ipv6_subnet(…)`. */
const TS_ID = /(ipv[46])(_subnet)?\(([^()]*)\)/g;

/**
 * The single addresses of a Junos traffic-selector id, at most one per family, canonical text.
 * A range counts only when start equals end (iked `ipv4(0,0-65535,A-A)`, kmd `ipv4(a-a)`);
 * kmd's bare `ipv4(a)` is one address; a subnet counts only at full length (/32, /128).
 * `0.0.0.0-255.255.255.255` and `ipv4_subnet(any:0,[0..7]=0.0.0.0/0)` are "any": no address.
 */
export function tsAddresses(ts: string): string[] {
  const byFamily = new Map<number, string>();
  for (const m of ts.matchAll(TS_ID)) {
    const family = m[1] === 'ipv6' ? 6 : 4;
    if (byFamily.has(family)) continue;
    const inner = m[3] ?? '';
    let candidate: string | undefined;
    if (m[2]) {
      // `any:0,[0..7]=10.0.0.1/32`: the prefix after the last `=`.
      const prefix = inner.slice(inner.lastIndexOf('=') + 1);
      const slash = prefix.indexOf('/');
      const len = slash < 0 ? NaN : Number(prefix.slice(slash + 1));
      if (len === (family === 4 ? 32 : 128)) candidate = prefix.slice(0, slash);
    } else {
      // iked: `proto,ports,range`; kmd: `range` or `address`. The range is the last part.
      const range = inner.slice(inner.lastIndexOf(',') + 1).trim();
      const dash = range.indexOf('-');
      if (dash < 0) candidate = range;
      else if (range.slice(0, dash) === range.slice(dash + 1)) candidate = range.slice(0, dash);
    }
    if (candidate === undefined) continue;
    const ip = canonicalIp(candidate);
    if (ip !== undefined && ip.includes(':') === (family === 6)) byFamily.set(family, ip);
  }
  return [...byFamily.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}

/** `alice@example.com` → alice / example.com; `EXAMPLE\alice` → alice / EXAMPLE; else no domain. */
export function splitUser(raw: string): { user: string; domain?: string } {
  const s = raw.trim();
  const back = s.indexOf('\\');
  if (back >= 0) return { user: s.slice(back + 1), domain: s.slice(0, back) };
  const at = s.lastIndexOf('@');
  if (at >= 0) return { user: s.slice(0, at), domain: s.slice(at + 1) };
  return { user: s };
}

export const TRANSFORMS: Readonly<Record<string, Transform>> = {
  /** Strip surrounding white space. */
  trim: (v) => ({ value: v.trim() }),
  /** A single IP address (canonical text), or no value (`Not-Available`, placeholders, junk). */
  address: (v) => {
    const ip = canonicalIp(v.trim());
    return ip === undefined ? {} : { value: ip };
  },
  /** The single addresses of a traffic-selector id (a list, possibly empty). */
  ts_addresses: (v) => ({ value: tsAddresses(v) }),
  /** Split `user@domain` / `DOMAIN\user`: the field keeps the user, `<field>Domain` gets the domain. */
  user: (v, field) => {
    const { user, domain } = splitUser(v);
    return domain === undefined ? { value: user } : { value: user, extra: { [`${field}Domain`]: domain } };
  },
};

export const TRANSFORM_NAMES = Object.keys(TRANSFORMS);

/** Applies a chain of transforms to one captured value; unknown names are caught at load time. */
export function applyTransforms(field: string, value: string, names: readonly string[], out: Record<string, FieldValue>): void {
  let current: FieldValue | undefined = value;
  for (const name of names) {
    const t = TRANSFORMS[name];
    if (!t || typeof current !== 'string') break;
    const r = t(current, field);
    current = r.value;
    if (r.extra) Object.assign(out, r.extra);
  }
  if (current !== undefined) out[field] = current;
}
