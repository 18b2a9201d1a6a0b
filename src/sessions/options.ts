// What every session adapter that runs the session script on Redis (the engine, the sweeper) is
// given by the composition root, so the two take their shared dependencies under one shape.
import type { RedisClient } from '../redis/connection.js';
import type { SessionsConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock } from '../types.js';

export interface SessionAdapterOptions {
  redis: RedisClient;
  cfg: SessionsConfig;
  keyPrefix: string;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /**
   * Where the number of IPs in state up after each decision goes (default: the ptim_sessions_active
   * gauge). A shard reports its own count; the gauge then holds the sum over shards.
   */
  activeSessions?: (active: number) => void;
}
