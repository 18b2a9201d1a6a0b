// Read-only views of the session state for the CLI and ops (never used on the event path).
// Listing streams the session index with ZSCAN, one batch at a time, so memory stays constant
// however many sessions there are; a position token lets a listing resume where a page ended.
import type { RedisClient } from '../redis/connection.js';
import { PtimError } from '../errors.js';
import { compileGlob, type Glob } from '../identity/glob.js';
import { cidrContains, parseCidr, parseIp, type Cidr } from '../net/cidr.js';
import { keyspace, type Keyspace } from '../redis/keys.js';
import { asShards, type Shards } from '../redis/shards.js';
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

interface Position {
  readonly shard: number;
  readonly cursor: string;
  readonly skipThrough?: string;
}

/**
 * The token is `<zscan cursor>:<ipKey of the last session shown>` (ipKeys contain no `:`); with
 * several shards it starts with `<shard>.`.
 */
function parseToken(token: string | undefined, shards: number): Position | string {
  if (token === undefined || token === '') return { shard: 0, cursor: '0' };
  const m = /^(?:(\d+)\.)?(\d+)(?::(.+))?$/.exec(token);
  const shard = Number(m?.[1] ?? 0);
  if (!m || shards > 1 !== (m[1] !== undefined) || shard >= shards)
    return `--cursor: not a position token from a previous listing: ${JSON.stringify(token)}`;
  return m[3] === undefined ? { shard, cursor: m[2]! } : { shard, cursor: m[2]!, skipThrough: m[3] };
}

const tokenOf = (shards: number, p: Position): string =>
  `${shards > 1 ? `${p.shard}.` : ''}${p.cursor}${p.skipThrough === undefined ? '' : `:${p.skipThrough}`}`;

/** The session keys grouped by shard, each group in the given order. */
export function byShard(shards: Shards, keys: readonly string[]): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const k of keys) {
    const s = shards.of(k);
    const g = groups.get(s);
    if (g) g.push(k);
    else groups.set(s, [k]);
  }
  return groups;
}

/**
 * The sessions of these ipKeys, in the given order; ended ones are left out (the console pages
 * through the index with it). One round trip per shard the keys fall in.
 */
export async function readSessions(
  redis: RedisClient,
  keyPrefix: string | Shards,
  keys: readonly string[],
): Promise<SessionView[]> {
  if (keys.length === 0) return [];
  const shards = asShards(keyPrefix);
  const views = new Map<string, SessionView | undefined>();
  for (const [shard, group] of byShard(shards, keys)) {
    const read = await readBatch(redis, keyspace(shards.prefixes[shard]!), group);
    group.forEach((k, i) => views.set(k, read[i]));
  }
  return keys.map((k) => views.get(k)).filter((v): v is SessionView => v !== undefined);
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
 * Several shards are listed one after the other.
 */
export async function* scanSessions(
  redis: RedisClient,
  keyPrefix: string | Shards,
  opts: ScanOptions = {},
): AsyncGenerator<ScannedSession> {
  const shards = asShards(keyPrefix);
  const count = shards.prefixes.length;
  const pass = compileFilter(opts.filter);
  if (typeof pass === 'string') throw new PtimError('PTIM_ERR_USAGE', pass);
  const start = parseToken(opts.after, count);
  if (typeof start === 'string') throw new PtimError('PTIM_ERR_USAGE', start);
  for (let shard = start.shard; shard < count; shard++) {
    const from: Position = shard === start.shard ? start : { shard, cursor: '0' };
    // The end of a shard continues with the next one.
    const after = shard + 1 < count ? tokenOf(count, { shard: shard + 1, cursor: '0' }) : undefined;
    const ks = keyspace(shards.prefixes[shard]!);
    yield* scanShard(redis, ks, pass, from, { batchSize: opts.batchSize ?? 500, token: (p) => tokenOf(count, p), end: after });
  }
}

/** One shard's part of `scanSessions`. */
async function* scanShard(
  redis: RedisClient,
  ks: Keyspace,
  pass: (s: SessionView) => boolean,
  start: Position,
  /** `end`: the token after this shard's last session (the next shard's start, or none). */
  o: { batchSize: number; token: (p: Position) => string; end: string | undefined },
): AsyncGenerator<ScannedSession> {
  const { shard } = start;
  const count = o.batchSize;
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
      const at: Position | undefined = !last
        ? { shard, cursor, skipThrough: v.ipKey }
        : nextCursor === '0'
          ? undefined
          : { shard, cursor: nextCursor };
      yield { session: v, next: at ? o.token(at) : o.end };
    }
    cursor = nextCursor;
  } while (cursor !== '0');
}

/** Every IP in state up (whole list in memory: small sets and tests; the CLI streams scanSessions). */
export async function listSessions(
  redis: RedisClient,
  keyPrefix: string | Shards,
  filter?: SessionFilter,
): Promise<SessionView[]> {
  const out: SessionView[] = [];
  for await (const s of scanSessions(redis, keyPrefix, { filter })) out.push(s.session);
  return out;
}

/** IPs currently mapped to a user (the `sessionsActive` gauge): the indexes' cardinality. */
export async function countSessions(redis: RedisClient, keyPrefix: string | Shards): Promise<number> {
  const counts = await Promise.all(asShards(keyPrefix).prefixes.map((p) => redis.zcard(keyspace(p).sessionIndex)));
  return counts.reduce((a, b) => a + b, 0);
}
