// Read-only views of the session state for the CLI and ops (never used on the event path).
// Listing streams the session index with ZSCAN, one batch at a time, so memory stays constant
// however many sessions there are; a position token lets a listing resume where a page ended.
import type { RedisClient } from '../redis/connection.js';
import { PtimError } from '../errors.js';
import { compileGlob, type Glob } from '../identity/glob.js';
import { cidrContains, parseCidr, parseIp, type Cidr } from '../net/cidr.js';
import { keyspace, type Keyspace } from '../redis/keys.js';
import type { Session } from './model.js';

/** A session as stored (the model's `Session`), with its key, the IP's seq and `connectedAt` as `since`. */
export interface SessionView extends Omit<Session, 'connectedAt' | 'tunnels'> {
  readonly ipKey: string;
  /** connectedAt (ms). */
  readonly since: number;
  readonly seq: number;
  readonly tunnels: string[];
}

/** Operator filters: names are `*`/`?` patterns (user case-insensitively), `ip` an address or CIDR. */
export interface SessionFilter {
  readonly user?: string;
  readonly ip?: string;
  readonly firewall?: string;
  readonly vpn?: string;
}

export interface ScanOptions {
  readonly filter?: SessionFilter;
  /** Resume after the session this token was given with (from a previous listing). */
  readonly after?: string;
  /** ZSCAN COUNT hint: index entries read per round trip. */
  readonly batchSize?: number;
}

/** One listed session and the token that resumes the listing right after it (undefined at the end). */
export interface ScannedSession {
  readonly session: SessionView;
  readonly next: string | undefined;
}

const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));

/** Compiles a filter once; returns an error message for an invalid `ip`. */
export function compileFilter(f: SessionFilter = {}): ((s: SessionView) => boolean) | string {
  let cidr: Cidr | undefined;
  if (f.ip !== undefined) {
    const c = parseCidr(f.ip);
    if (typeof c === 'string') return `--ip: ${c}`;
    cidr = c;
  }
  const glob = (p: string | undefined, ignoreCase = false): Glob | undefined =>
    p === undefined ? undefined : compileGlob(p, { ignoreCase });
  const user = glob(f.user, true);
  const firewall = glob(f.firewall);
  const vpn = glob(f.vpn);
  return (s) => {
    if (user && !user.test(s.user)) return false;
    if (firewall && !firewall.test(s.firewall)) return false;
    if (vpn && !vpn.test(s.vpn ?? '')) return false;
    if (cidr) {
      const ip = parseIp(s.ip);
      if (!ip || !cidrContains(cidr, ip)) return false;
    }
    return true;
  };
}

/** The token is `<zscan cursor>:<ipKey of the last session shown>` (ipKeys contain no `:`). */
function parseToken(token: string | undefined): { cursor: string; skipThrough?: string } | string {
  if (token === undefined || token === '') return { cursor: '0' };
  const m = /^(\d+)(?::(.+))?$/.exec(token);
  if (!m) return `--cursor: not a position token from a previous listing: ${JSON.stringify(token)}`;
  return m[2] === undefined ? { cursor: m[1]! } : { cursor: m[1]!, skipThrough: m[2] };
}

/** The sessions of these ipKeys, in the given order; ended ones are left out (the console pages through the index with it). */
export async function readSessions(redis: RedisClient, keyPrefix: string, keys: readonly string[]): Promise<SessionView[]> {
  if (keys.length === 0) return [];
  return (await readBatch(redis, keyspace(keyPrefix), keys)).filter((v): v is SessionView => v !== undefined);
}

/** Reads the sessions of one batch of index keys in one round trip; ended ones are undefined. */
async function readBatch(redis: RedisClient, ks: Keyspace, keys: readonly string[]): Promise<(SessionView | undefined)[]> {
  const p = redis.pipeline();
  for (const k of keys) p.hgetall(ks.session(k)).smembers(ks.tunnels(k)).hget(ks.seqs, k);
  const res = (await p.exec()) ?? [];
  return keys.map((k, i) => {
    const [h, t, seq] = res.slice(i * 3, i * 3 + 3).map(([err, v]) => {
      if (err) throw err;
      return v;
    });
    return toView(k, h as Record<string, string>, t as string[], seq as string | null);
  });
}

function toView(k: string, s: Record<string, string>, tunnels: string[], seq: string | null): SessionView | undefined {
  if (s.user === undefined) return undefined;
  return {
    ipKey: k,
    ip: s.ip ?? k,
    user: s.user,
    domain: s.domain ?? '',
    firewall: s.firewall ?? '',
    ...(s.vpn !== undefined && { vpn: s.vpn }),
    ...(s.gateway !== undefined && { gateway: s.gateway }),
    ...(s.peerIp !== undefined && { peerIp: s.peerIp }),
    since: Number(s.connectedAt),
    lastUpAt: Number(s.lastUpAt),
    ...(s.lastRekeyAt !== undefined && { lastRekeyAt: num(s.lastRekeyAt) }),
    lastEventAt: Number(s.lastEventAt),
    seq: Number(seq ?? 0),
    tunnels: tunnels.sort(),
  };
}

/**
 * Every IP in state up that passes the filter, in index-scan order, one ZSCAN batch in memory at a
 * time. Redis's SCAN guarantee carries over: a session present for the whole listing (across pages
 * too) is listed; one that starts or ends meanwhile may or may not be; a resize of the index while
 * listing may list a session twice. A bad filter or token is `PTIM_ERR_USAGE`, before any Redis call.
 */
export async function* scanSessions(
  redis: RedisClient,
  keyPrefix: string,
  opts: ScanOptions = {},
): AsyncGenerator<ScannedSession> {
  const ks = keyspace(keyPrefix);
  const pass = compileFilter(opts.filter);
  if (typeof pass === 'string') throw new PtimError('PTIM_ERR_USAGE', pass);
  const start = parseToken(opts.after);
  if (typeof start === 'string') throw new PtimError('PTIM_ERR_USAGE', start);
  const count = opts.batchSize ?? 500;
  let cursor = start.cursor;
  let skipThrough = start.skipThrough;
  do {
    const [nextCursor, flat] = await redis.zscan(ks.sessionIndex, cursor, 'COUNT', count);
    let keys = flat.filter((_, i) => i % 2 === 0);
    if (skipThrough !== undefined) {
      // Resume inside the batch the previous page ended in; if that session is gone, show the
      // whole batch again (a possible repeat, never a gap).
      const at = keys.indexOf(skipThrough);
      if (at >= 0) keys = keys.slice(at + 1);
      skipThrough = undefined;
    }
    const views = keys.length ? await readBatch(redis, ks, keys) : [];
    for (let i = 0; i < views.length; i++) {
      const v = views[i];
      if (!v || !pass(v)) continue;
      const last = i === views.length - 1;
      yield { session: v, next: last ? (nextCursor === '0' ? undefined : nextCursor) : `${cursor}:${v.ipKey}` };
    }
    cursor = nextCursor;
  } while (cursor !== '0');
}

/** Every IP in state up (whole list in memory: small sets and tests; the CLI streams scanSessions). */
export async function listSessions(redis: RedisClient, keyPrefix: string, filter?: SessionFilter): Promise<SessionView[]> {
  const out: SessionView[] = [];
  for await (const s of scanSessions(redis, keyPrefix, { filter })) out.push(s.session);
  return out;
}

/** IPs currently mapped to a user (the `sessionsActive` gauge): the index's cardinality. */
export function countSessions(redis: RedisClient, keyPrefix: string): Promise<number> {
  return redis.zcard(keyspace(keyPrefix).sessionIndex);
}
