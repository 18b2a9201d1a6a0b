// Reading an IP's recent history back, newest first (the console's IP timeline).
import type { RedisClient } from '../redis/connection.js';
import { parseEntry, type StoredHistoryEntry } from './entries.js';
import type { Shards } from '../redis/shards.js';
import { historyKeys } from './recorder.js';

export async function readHistory(
  redis: RedisClient,
  keyPrefix: string | Shards,
  ip: string,
  limit = 200,
): Promise<StoredHistoryEntry[]> {
  const rows = await redis.lrange(historyKeys(keyPrefix).ip(ip), -limit, -1);
  const out: StoredHistoryEntry[] = [];
  for (let i = rows.length - 1; i >= 0; i--) {
    const e = parseEntry(rows[i]!);
    if (e) out.push(e);
  }
  return out;
}
