// Every Redis key name of the bridge. All share one hash tag `{prefix}` so the Lua scripts
// (which touch several keys at once) and BullMQ work on Redis Cluster too.
import { canonicalIpWith } from '../identity/ip.js';

export interface Keyspace {
  /** `{prefix}`: the hash tag; also BullMQ's `prefix`, so queue keys share the slot. */
  readonly tag: string;
  /** Hash: per-IP session state. */
  session(ipKey: string): string;
  /** Set: tunnel ids of the session's UP lines still open. */
  tunnels(ipKey: string): string;
  /** Sorted set: ipKey scored by lastUpAt (ms) for every IP in state up; the sweeper reads it. */
  readonly sessionIndex: string;
  /** Hash: ipKey → last sequence number (kept after a session ends until the IP's bookkeeping is pruned). */
  readonly seqs: string;
  /** String: at least every seq a pruned IP had; an IP's next chain of seqs starts above it, so seqs only grow. */
  readonly seqFloor: string;
  /** Hash: ipKey → bridge receive time (ms) of the last line applied (an older line is refused). */
  readonly lastAt: string;
  /** Sorted set: ipKey scored by when its session ended (ms), for IPs with bookkeeping but no session: what pruning reads. */
  readonly ended: string;
  /** Hash: journal instance → `id:part` of the last journaled input applied (a replay at or below it is skipped). */
  readonly journals: string;
  /** Stream: the transactional outbox of identity events. */
  readonly outbox: string;
  /** Hash: ipKey → highest seq delivered to JIMS (the ordering guard). */
  readonly delivered: string;
  /** Hash: ipKey → highest seq a push was started for (an older event must not follow it). */
  readonly attempted: string;
  /** String with TTL: the highest submission number of `source` the session script applied. */
  applied(source: string): string;
  /** String with TTL: the one-push-in-flight-per-IP lock. */
  lock(ipKey: string): string;
  /** Hash: firewall → last device time (ms) `replay` applied (a second run skips up to it). */
  readonly replayMarks: string;
  /** BullMQ queue name (under the `tag` prefix). */
  readonly queueName: string;
  /** Hash: `patternId:regexHash` → quarantine record (JSON) of a pattern that ran away. */
  readonly quarantine: string;
}

export function keyspace(prefix: string): Keyspace {
  const tag = `{${prefix}}`;
  return {
    tag,
    session: (k) => `${tag}:s:${k}`,
    tunnels: (k) => `${tag}:t:${k}`,
    sessionIndex: `${tag}:sessions`,
    seqs: `${tag}:seq`,
    seqFloor: `${tag}:seqfloor`,
    lastAt: `${tag}:last`,
    ended: `${tag}:ended`,
    journals: `${tag}:journals`,
    outbox: `${tag}:outbox`,
    delivered: `${tag}:delivered`,
    attempted: `${tag}:attempted`,
    applied: (source) => `${tag}:applied:${source}`,
    lock: (k) => `${tag}:lock:${k}`,
    replayMarks: `${tag}:replay`,
    queueName: 'push',
    quarantine: `${tag}:quarantine`,
  };
}

/**
 * The session key of an IP: canonical IP, optionally scoped by a routing context, in a form
 * that is safe inside a BullMQ job id (no `:`). Job ids are `<ipKey>-<seq>`.
 */
export function ipKey(ip: string, scope = ''): string {
  // Several calls per event: the canonical text is built with `_` at once, and text without `:` (IPv4) needs no rewrite.
  const safe = canonicalIpWith(ip, '_') ?? (ip.includes(':') ? ip.replace(/:/g, '_') : ip);
  return scope ? `${safeScope(scope)}~${safe}` : safe;
}

/** The last scope made safe: a bridge has one configured scope, so this spares a regex replace per key. */
let lastScope = { scope: '', safe: '' };

function safeScope(scope: string): string {
  if (scope !== lastScope.scope) lastScope = { scope, safe: scope.replace(/[^A-Za-z0-9_.]/g, '_') };
  return lastScope.safe;
}

export function jobId(key: string, seq: number): string {
  return `${key}-${seq}`;
}
