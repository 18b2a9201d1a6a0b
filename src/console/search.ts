// Paging and searching the live sessions without loading them: pages are rank ranges of the
// session index (newest UP first), and a search scans the index in chunks reading only the
// searched fields, stopping when the page is full or after SCAN_BUDGET sessions. The reply then
// carries a cursor, so the operator (or the page) continues from where the scan stopped. With
// several shards, ranks run through the shards' indexes one after the other (each newest first).
import type { RedisClient } from '../redis/connection.js';
import { canonicalIp } from '../identity/ip.js';
import { ipKey, keyspace, type Keyspace } from '../redis/keys.js';
import { asShards, type Shards } from '../redis/shards.js';
import { readSessions, type SessionView } from '../sessions/query.js';

export const SEARCH_FIELDS = ['any', 'user', 'ip', 'firewall', 'vpn'] as const;
export type SearchField = (typeof SEARCH_FIELDS)[number];

export interface SessionSearch {
  readonly q?: string;
  readonly field?: SearchField;
  /** Rank in the index (newest first) to continue from; 0 for the first page. */
  readonly cursor?: number;
  readonly limit?: number;
  /** Routing scope of IP keys (`sessions.ipScope`). */
  readonly scope?: string;
  /** Index entries one request may read (default SCAN_BUDGET). */
  readonly scanBudget?: number;
}

export interface SessionPage {
  readonly sessions: SessionView[];
  /** Sessions in the index now. */
  readonly total: number;
  /** Where the next page starts, or null at the end. */
  readonly nextCursor: number | null;
  /** Index entries looked at for this page (search only). */
  readonly scanned: number;
}

const CHUNK = 1000;
/** Index entries one search request reads at most (a few hundred ms on a busy host; see bench/console.ts). */
export const SCAN_BUDGET = 20_000;
const SEARCHED = ['user', 'domain', 'ip', 'firewall', 'vpn'] as const;

/** The shards' session indexes as one list of ranks: shard 0's entries first, newest first in each. */
class RankedIndexes {
  private constructor(
    private readonly spaces: readonly Keyspace[],
    private readonly sizes: readonly number[],
  ) {}

  static async read(redis: RedisClient, shards: Shards): Promise<RankedIndexes> {
    const spaces = shards.prefixes.map((p) => keyspace(p));
    return new RankedIndexes(spaces, await Promise.all(spaces.map((ks) => redis.zcard(ks.sessionIndex))));
  }

  get total(): number {
    return this.sizes.reduce((a, b) => a + b, 0);
  }

  /** The keys at ranks [from, from + count) of the shard that holds rank `from` (fewer at its end). */
  async range(redis: RedisClient, from: number, count: number): Promise<{ ks: Keyspace; keys: string[] }> {
    let start = from;
    let shard = 0;
    while (shard < this.sizes.length - 1 && start >= this.sizes[shard]!) start -= this.sizes[shard++]!;
    const ks = this.spaces[shard]!;
    const stop = Math.min(start + count, this.sizes[shard]!) - 1;
    return { ks, keys: stop < start ? [] : await redis.zrevrange(ks.sessionIndex, start, stop) };
  }
}

export async function searchSessions(redis: RedisClient, keyPrefix: string | Shards, s: SessionSearch): Promise<SessionPage> {
  const shards = asShards(keyPrefix);
  const limit = Math.min(Math.max(s.limit ?? 50, 1), 500);
  const cursor = Math.max(s.cursor ?? 0, 0);
  const q = (s.q ?? '').trim().toLowerCase();
  const field = s.field ?? 'any';
  const index = await RankedIndexes.read(redis, shards);
  const total = index.total;
  if (!q) {
    const keys: string[] = [];
    while (keys.length < limit && cursor + keys.length < total) {
      const got = (await index.range(redis, cursor + keys.length, limit - keys.length)).keys;
      if (got.length === 0) break;
      keys.push(...got);
    }
    const next = cursor + keys.length;
    return { sessions: await readSessions(redis, shards, keys), total, nextCursor: next < total ? next : null, scanned: 0 };
  }
  // A whole IP is one key: no scan.
  if ((field === 'ip' || field === 'any') && canonicalIp(q) && cursor === 0) {
    const direct = await readSessions(redis, shards, [ipKey(q, s.scope)]);
    if (direct.length || field === 'ip') return { sessions: direct, total, nextCursor: null, scanned: 1 };
  }
  return scan(redis, shards, index, { q, field, cursor, limit, total, budget: s.scanBudget ?? SCAN_BUDGET });
}

async function scan(
  redis: RedisClient,
  shards: Shards,
  index: RankedIndexes,
  o: { q: string; field: SearchField; cursor: number; limit: number; total: number; budget: number },
): Promise<SessionPage> {
  const hits: string[] = [];
  let pos = o.cursor;
  while (hits.length < o.limit && pos < o.total && pos - o.cursor < o.budget) {
    const { ks, keys } = await index.range(redis, pos, Math.min(CHUNK, o.budget - (pos - o.cursor)));
    if (keys.length === 0) break;
    const p = redis.pipeline();
    for (const k of keys) p.hmget(ks.session(k), ...SEARCHED);
    const rows = (await p.exec()) ?? [];
    let i = 0;
    for (; i < keys.length && hits.length < o.limit; i++) {
      const [err, v] = rows[i] ?? [];
      if (!err && matches(v as (string | null)[], o.field, o.q)) hits.push(keys[i]!);
    }
    pos += i;
  }
  return {
    sessions: await readSessions(redis, shards, hits),
    total: o.total,
    nextCursor: pos < o.total ? pos : null,
    scanned: pos - o.cursor,
  };
}

function matches(v: readonly (string | null)[], field: SearchField, q: string): boolean {
  const [user, domain, ip, firewall, vpn] = v.map((x) => (x ?? '').toLowerCase());
  switch (field) {
    case 'user':
      return user!.includes(q) || `${user}@${domain}`.includes(q);
    case 'ip':
      return ip!.includes(q);
    case 'firewall':
      return firewall!.includes(q);
    case 'vpn':
      return vpn!.includes(q);
    default:
      return [user, `${user}@${domain}`, ip, firewall, vpn].some((x) => x!.includes(q));
  }
}
