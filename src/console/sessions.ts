// Logged-in browser sessions: a random id in an HttpOnly cookie, held here (per process; a restart
// logs operators out) with the role and the CSRF token the pages send back on every change.
// Only a hash of the id is kept, so a heap dump does not hand out live sessions.
import { createHash, randomBytes } from 'node:crypto';
import type { ConsoleRole } from '../config/schema.js';
import type { Clock } from '../types.js';

export interface ConsoleSession {
  readonly user: string;
  readonly role: ConsoleRole;
  readonly csrf: string;
  readonly expiresAt: number;
}

export interface SessionStore {
  /** Returns the new cookie value. */
  create(user: string, role: ConsoleRole): { id: string; session: ConsoleSession };
  get(id: string | undefined): ConsoleSession | undefined;
  destroy(id: string | undefined): void;
}

const MAX_SESSIONS = 1000;
const digest = (id: string) => createHash('sha256').update(id).digest('base64url');

export function createSessionStore(opts: { ttlMs: number; clock: Clock }): SessionStore {
  const sessions = new Map<string, ConsoleSession>();
  return {
    create(user, role) {
      const id = randomBytes(32).toString('base64url');
      const session = { user, role, csrf: randomBytes(24).toString('base64url'), expiresAt: opts.clock.now() + opts.ttlMs };
      sessions.set(digest(id), session);
      // Oldest first: an unbounded stream of logins cannot grow the map.
      while (sessions.size > MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
      return { id, session };
    },
    get(id) {
      if (!id) return undefined;
      const key = digest(id);
      const s = sessions.get(key);
      if (s && s.expiresAt <= opts.clock.now()) {
        sessions.delete(key);
        return undefined;
      }
      return s;
    },
    destroy(id) {
      if (id) sessions.delete(digest(id));
    },
  };
}
