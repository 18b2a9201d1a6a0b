// Reads one IP's state back from Redis in the shape of the pure model (model.ts), so tests can
// compare the Lua script's effects with the model's field by field; and gives a test file its Redis.
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { keyspace } from '../../../src/redis/keys.js';
import type { IpState, Session } from '../../../src/sessions/model.js';
import type { IdentityEvent } from '../../../src/types.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';

/** A private Redis and one plain client on it for the calling test file: opened in beforeAll, closed in afterAll. */
export function useRedis(): { readonly server: TestRedis; readonly redis: Redis } {
  const db = {} as { server: TestRedis; redis: Redis };
  beforeAll(async () => {
    db.server = await startRedis();
    db.redis = new Redis(db.server.url);
  });
  afterAll(async () => {
    db.redis?.disconnect();
    await db.server?.stop();
  });
  return db;
}

export async function readIpState(
  redis: Redis,
  keyPrefix: string,
  key: string,
): Promise<{ state: IpState | undefined; indexScore: number | null }> {
  const ks = keyspace(keyPrefix);
  const [h, tunnels, seq, score, lastAt] = await Promise.all([
    redis.hgetall(ks.session(key)),
    redis.smembers(ks.tunnels(key)),
    redis.hget(ks.seqs, key),
    redis.zscore(ks.sessionIndex, key),
    redis.hget(ks.lastAt, key),
  ]);
  const indexScore = score === null ? null : Number(score);
  let session: Session | undefined;
  if (h.user !== undefined) {
    session = {
      ip: h.ip ?? '',
      user: h.user,
      domain: h.domain ?? '',
      firewall: h.firewall ?? '',
      ...(h.vpn !== undefined && { vpn: h.vpn }),
      ...(h.gateway !== undefined && { gateway: h.gateway }),
      ...(h.peerIp !== undefined && { peerIp: h.peerIp }),
      tunnels: tunnels.sort(),
      connectedAt: Number(h.connectedAt),
      lastUpAt: Number(h.lastUpAt),
      ...(h.lastRekeyAt !== undefined && { lastRekeyAt: Number(h.lastRekeyAt) }),
      lastEventAt: Number(h.lastEventAt),
    };
  } else if (tunnels.length > 0) {
    throw new Error(`tunnels left without a session for ${key}`);
  }
  if (seq === null && lastAt === null && !session) return { state: undefined, indexScore };
  const last = lastAt === null ? {} : { lastAt: Number(lastAt) };
  return { state: { seq: Number(seq ?? 0), ...last, ...(session && { session }) }, indexScore };
}

/** Outbox entries as `{ipKey, event}` in stream order. */
export async function readOutbox(redis: Redis, keyPrefix: string): Promise<{ ipKey: string; event: IdentityEvent }[]> {
  const entries = await redis.xrange(keyspace(keyPrefix).outbox, '-', '+');
  return entries.map(([, fields]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
    return { ipKey: f.ipKey ?? '', event: JSON.parse(f.event ?? 'null') as IdentityEvent };
  });
}

/** Drops keys that are absent in one representation and undefined in the other. */
export function normalize<T>(v: T): T {
  return JSON.parse(JSON.stringify(v ?? null)) as T;
}

/** An IP never touched and one with seq 0, no last line and no session are the same state. */
export function canonState(s: IpState | undefined): IpState | null {
  return s && (s.seq > 0 || s.session || s.lastAt !== undefined) ? normalize(s) : null;
}
