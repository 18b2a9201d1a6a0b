// The bridge's Lua scripts run through ioredis's defineCommand: EVALSHA, and EVAL once when Redis
// lost the script (a restart, a failover, SCRIPT FLUSH). One helper so every caller defines and
// calls them the same way, on a client or on a pipeline made from it.
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './connection.js';

type Callable = Record<string, ((...a: (string | number)[]) => unknown) | undefined>;

/** Defines `name` on the client (once). Pipelines made after this carry it too. */
export function defineScript(redis: RedisClient, name: string, lua: string): void {
  if (typeof (redis as unknown as Callable)[name] !== 'function') redis.defineCommand(name, { lua });
}

/** Runs script `name` (defined with `lua` if it is not yet): the key count, the keys, then the args. */
export function runScript<T>(
  redis: RedisClient,
  name: string,
  lua: string,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<T> {
  defineScript(redis, name, lua);
  return (redis as unknown as Callable)[name]!.call(redis, keys.length, ...keys, ...args) as Promise<T>;
}

/** Queues script `name` on a pipeline of a client that has it defined (`defineScript`). */
export function queueScript(
  p: ChainableCommander,
  name: string,
  keys: readonly string[],
  args: readonly (string | number)[],
): void {
  (p as unknown as Callable)[name]!.call(p, keys.length, ...keys, ...args);
}
