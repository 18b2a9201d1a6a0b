// Read-only views of the session state for the CLI and ops (never used on the event path).
import type { RedisClient as Redis } from '../redis/connection.js';
import { keyspace } from '../redis/keys.js';
import type { Session } from './spec.js';

/** A session as stored (the model's `Session`), with its key, the IP's seq and `connectedAt` as `since`. */
export interface SessionView extends Omit<Session, 'connectedAt' | 'tunnels'> {
  readonly ipKey: string;
  /** connectedAt (ms). */
  readonly since: number;
  readonly seq: number;
  readonly tunnels: string[];
}

const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));

/** Every IP in state up, oldest lastUpAt first. Sessions ended between the reads are left out. */
export async function listSessions(redis: Redis, keyPrefix: string): Promise<SessionView[]> {
  const ks = keyspace(keyPrefix);
  const keys = await redis.zrange(ks.sessionIndex, 0, -1);
  if (keys.length === 0) return [];
  const p = redis.pipeline();
  for (const k of keys) p.hgetall(ks.session(k)).smembers(ks.tunnels(k)).hget(ks.seqs, k);
  const res = (await p.exec()) ?? [];
  const out: SessionView[] = [];
  keys.forEach((k, i) => {
    const [h, t, seq] = res.slice(i * 3, i * 3 + 3).map(([err, v]) => {
      if (err) throw err;
      return v;
    });
    const s = h as Record<string, string>;
    if (s.user === undefined) return;
    out.push({
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
      tunnels: (t as string[]).sort(),
    });
  });
  return out;
}

/** IPs currently mapped to a user (the `sessionsActive` gauge). */
export function countSessions(redis: Redis, keyPrefix: string): Promise<number> {
  return redis.zcard(keyspace(keyPrefix).sessionIndex);
}
