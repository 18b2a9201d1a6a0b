// Where replayed events go: the session engine (the real run: Redis state and the outbox, which
// the running bridge's relay and workers push to JIMS), or the pure session model in memory
// (--dry-run: nothing is written; the caller prints what JIMS would hear).
import type { RedisClient } from '../redis/connection.js';
import type { SessionsConfig } from '../config/schema.js';
import { ipKey } from '../redis/keys.js';
import { asShards, type Shards } from '../redis/shards.js';
import { eventInputs, type SessionEngine } from '../sessions/engine.js';
import { transition, type IpState } from '../sessions/model.js';
import type { IdentityEvent, VpnEvent } from '../types.js';
import type { ReplaySink } from './run.js';

/** Submissions between two waits for the engine: keeps its memory buffer far from full. */
const DRAIN_EVERY = 500;

export interface EngineSink extends ReplaySink {
  /** Events left out because the IP's session in Redis changed after the line (live traffic is newer). */
  readonly newerState: () => number;
  finish(): Promise<void>;
}

/**
 * Feeds the session engine. An IP whose mapped session's last event is newer than the line is
 * left alone: the bridge already heard something later for it (e.g. `serve` ran before `replay`).
 */
export function engineSink(
  engine: Pick<SessionEngine, 'submit' | 'drain'>,
  redis: RedisClient,
  keyPrefix: string | Shards,
  ipScope: string,
): EngineSink {
  const shards = asShards(keyPrefix);
  let submitted = 0;
  let newer = 0;
  let seq = 0;
  return {
    async apply(event) {
      const keep: string[] = [];
      for (const ip of event.ips) {
        const key = ipKey(ip, ipScope);
        const last = await redis.hget(shards.keyspaceOf(key).session(key), 'lastEventAt');
        if (last !== null && Number(last) > event.receivedAt) newer++;
        else keep.push(ip);
      }
      if (keep.length === 0) return;
      engine.submit({ ...event, ips: keep }, `replay-${(++seq).toString(36)}`);
      if (++submitted % DRAIN_EVERY === 0) await engine.drain();
    },
    newerState: () => newer,
    finish: () => engine.drain(),
  };
}

export interface ModelSink extends ReplaySink {
  /** Expires, as the sweeper would at `now`, every session idle longer than sessionIdleSecs. */
  expireIdle(now: number): Promise<void>;
}

/**
 * The pure session model (the one the Lua script is tested against), from an empty state: what
 * JIMS would hear if this archive were replayed into an empty Redis. Each emitted event goes to `emit`.
 */
export function modelSink(cfg: SessionsConfig, emit: (e: IdentityEvent) => void | Promise<void>): ModelSink {
  const states = new Map<string, IpState>();
  let seq = 0;
  return {
    async apply(event: VpnEvent) {
      // The engine's own event → input mapping, so the dry run decides exactly as the real run.
      for (const input of eventInputs(event, `replay-${(++seq).toString(36)}`).inputs) {
        const key = ipKey(input.ip, cfg.ipScope);
        const t = transition(states.get(key), input, cfg, event.receivedAt);
        states.set(key, t.state);
        for (const e of t.emit) await emit(e);
      }
    },
    async expireIdle(now) {
      const cutoff = now - cfg.sessionIdleSecs * 1000;
      for (const [key, state] of states) {
        if (!state.session || state.session.lastUpAt >= cutoff) continue;
        const t = transition(state, { kind: 'expire', correlationId: 'replay-expire' }, cfg, now);
        states.set(key, t.state);
        for (const e of t.emit) await emit(e);
      }
    },
  };
}
