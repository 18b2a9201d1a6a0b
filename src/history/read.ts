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
  const rows = await redis.xrevrange(historyKeys(keyPrefix).ip(ip), '+', '-', 'COUNT', limit);
  const out: StoredHistoryEntry[] = [];
  for (const [id, fields] of rows) {
    const i = fields.indexOf('e');
    const e = i >= 0 ? parseEntry(id, fields[i + 1] ?? '') : undefined;
    if (e) out.push(e);
  }
  return out;
}
