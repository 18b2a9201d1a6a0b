// Failed-login throttling: after `maxFailures` failures within `windowMs` from one client address,
// or against one user name (a spread-out guesser), further logins are refused until the window
// has passed. Memory is bounded: the oldest keys are forgotten first.
import type { Clock } from '../types.js';

export interface LoginThrottle {
  /** Milliseconds to wait before another attempt is allowed for either key; 0 when allowed. */
  retryAfterMs(clientIp: string, user: string): number;
  failed(clientIp: string, user: string): void;
  succeeded(clientIp: string, user: string): void;
}

const MAX_KEYS = 10_000;

export function createLoginThrottle(opts: { maxFailures: number; windowMs: number; clock: Clock }): LoginThrottle {
  const { maxFailures, windowMs, clock } = opts;
  /** key → failure times (ms), oldest first; insertion order doubles as LRU order. */
  const failures = new Map<string, number[]>();
  const keys = (ip: string, user: string) => [`ip:${ip}`, `user:${user.toLowerCase()}`];

  const recent = (key: string, now: number): number[] => {
    const list = (failures.get(key) ?? []).filter((t) => now - t < windowMs);
    if (list.length === 0) failures.delete(key);
    else failures.set(key, list);
    return list;
  };

  return {
    retryAfterMs(ip, user) {
      const now = clock.now();
      let wait = 0;
      for (const k of keys(ip, user)) {
        const list = recent(k, now);
        if (list.length >= maxFailures) wait = Math.max(wait, list[list.length - maxFailures]! + windowMs - now);
      }
      return wait;
    },
    failed(ip, user) {
      const now = clock.now();
      for (const k of keys(ip, user)) {
        const list = recent(k, now);
        list.push(now);
        failures.delete(k);
        failures.set(k, list.slice(-maxFailures));
      }
      while (failures.size > MAX_KEYS) failures.delete(failures.keys().next().value!);
    },
    succeeded(ip, user) {
      for (const k of keys(ip, user)) failures.delete(k);
    },
  };
}
