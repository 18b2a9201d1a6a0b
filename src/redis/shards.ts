// The keyspace in shards (`redis.shards`): every IP belongs to one shard, chosen by a stable hash
// of its session key (the canonical IP, with its routing scope), and each shard has a hash tag of
// its own, so its session keys, outbox, queue and ordering keys share one Cluster slot, and the
// shards' slots sit in different parts of the slot range (on different masters of a Cluster whose
// masters split the range evenly, as `redis-cli --cluster create` does). One shard keeps the
// keyspace's original names.
import { crc32 } from 'node:zlib';
import calculateSlot from 'cluster-key-slot';
import { ipKey, keyspace, type Keyspace } from './keys.js';

/** Redis Cluster's slot count. */
export const CLUSTER_SLOTS = 16384;

export interface Shards {
  /** `redis.keyPrefix`: keys that are not per IP (quarantine, history, verdicts, replay marks) stay under it. */
  readonly base: string;
  /** Each shard's key prefix (inside its hash tag), by shard index; `[base]` with one shard. */
  readonly prefixes: readonly string[];
  /** The shard of an IP's session key (see `ipKey`). */
  of(ipKey: string): number;
  /** The keyspace an IP's session key lives in. */
  keyspaceOf(ipKey: string): Keyspace;
}

/** The Cluster slot of a key (Redis's CRC16, hash tags honoured). */
export const slotOf = (key: string): number => calculateSlot(key);

/**
 * Shard `index` of `count`: the base prefix, a dash, the index, a dash and the smallest number that
 * puts the hash tag's slot in the index-th of `count` equal parts of the slot range. Deterministic:
 * every process and CLI command of a deployment derives the same names.
 */
export function shardPrefix(base: string, index: number, count: number): string {
  if (count === 1) return base;
  const from = Math.floor((index * CLUSTER_SLOTS) / count);
  const to = Math.floor(((index + 1) * CLUSTER_SLOTS) / count);
  for (let salt = 0; ; salt++) {
    const prefix = `${base}-${index}-${salt}`;
    const slot = slotOf(keyspace(prefix).tag);
    if (slot >= from && slot < to) return prefix;
  }
}

/** The shard of a session key: CRC-32 of the key, modulo the shard count (stable across processes and versions). */
export function shardIndex(key: string, count: number): number {
  return count === 1 ? 0 : crc32(key) % count;
}

export function shardsOf(base: string, count = 1): Shards {
  const prefixes = Array.from({ length: count }, (_, i) => shardPrefix(base, i, count));
  const spaces = prefixes.map((p) => keyspace(p));
  return {
    base,
    prefixes,
    of: (key) => shardIndex(key, count),
    keyspaceOf: (key) => spaces[shardIndex(key, count)]!,
  };
}

/** The shard of an IP address (canonicalised as the session engine does) in `scope`. */
export const shardOfIp = (shards: Shards, ip: string, scope = ''): number => shards.of(ipKey(ip, scope));

/** A bare key prefix is one shard (callers and tests that predate sharding). */
export const asShards = (s: string | Shards): Shards => (typeof s === 'string' ? shardsOf(s, 1) : s);
