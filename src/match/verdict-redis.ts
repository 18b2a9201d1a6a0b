// The verdict layer shared by every replica of a deployment: one Redis hash under the key
// prefix, verdict key → verdict JSON. A replica that finds a verdict here does not prove the
// regex again; one that proves a regex publishes the verdict here.
import type { RedisClient } from '../redis/connection.js';
import { keyspace } from '../redis/keys.js';
import type { Verdict } from './regex-safety.js';
import { isVerdict } from './verdicts.js';

export interface SharedVerdicts {
  /** The shared verdict, if any; undefined also when Redis does not answer (the regex is then proven here). */
  get(key: string): Promise<Verdict | undefined>;
  /** Publishes a verdict; a failure is ignored (the cache file still has it). */
  put(key: string, verdict: Verdict): Promise<void>;
}

/** The hash's name: `{prefix}:regex-verdicts`. */
export const verdictHashKey = (keyPrefix: string): string => `${keyspace(keyPrefix).tag}:regex-verdicts`;

export function redisVerdicts(redis: Pick<RedisClient, 'hget' | 'hset'>, keyPrefix: string): SharedVerdicts {
  const hash = verdictHashKey(keyPrefix);
  return {
    async get(key) {
      try {
        const text = await redis.hget(hash, key);
        if (!text) return undefined;
        const v: unknown = JSON.parse(text);
        return isVerdict(v) ? v : undefined;
      } catch {
        return undefined;
      }
    },
    async put(key, verdict) {
      try {
        await redis.hset(hash, key, JSON.stringify(verdict));
      } catch {
        // the cache file keeps it; the next replica proves it again
      }
    },
  };
}
