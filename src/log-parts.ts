// What log lines are made of, apart from the logger itself: secret redaction, error fields, URL
// masking and the log rate limiter. Free of pino, so the receive and matcher threads use them (and
// the operational events) without loading it: each library a thread loads costs megabytes of its heap.

/** Keys whose values never reach a log line, at the top of a log object or one or two levels down. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'clientSecret',
  'client_secret',
  'access_token',
  'authorization',
  'password',
  'redisUrl',
]);
const CENSOR = '[redacted]';
/** Levels below the top that are searched (`headers.authorization` under a request object is two). */
const SECRET_DEPTH = 2;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

function holdsSecret(o: Record<string, unknown>, depth: number): boolean {
  for (const k in o) {
    if (SECRET_KEYS.has(k)) return true;
    const v = o[k];
    if (depth < SECRET_DEPTH && isRecord(v) && holdsSecret(v, depth + 1)) return true;
  }
  return false;
}

function censored(o: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = Array.isArray(o) ? ([] as unknown as Record<string, unknown>) : {};
  for (const k in o) {
    const v = o[k];
    out[k] = SECRET_KEYS.has(k) ? CENSOR : depth < SECRET_DEPTH && isRecord(v) ? censored(v, depth + 1) : v;
  }
  return out;
}

/**
 * A log object with every secret-bearing key's value replaced: the object itself when it holds
 * none (the common case costs one pass over its keys, no copy), else a copy; the caller's
 * objects are never changed. pino's path-based `redact` did this at several µs per line, which
 * every audit line paid (two per identity event then) in a login storm.
 */
export function redactSecrets(o: Record<string, unknown>): Record<string, unknown> {
  return holdsSecret(o, 0) ? censored(o, 0) : o;
}

/** The one way an error goes into a log line: its class, message and code (no stack, no object dump). */
export function errorFields(e: unknown): { type: string; message: string; code?: string } {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { type: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') {
    const { message, code } = e as { message: string; code?: unknown };
    return { type: 'Error', message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { type: typeof e, message: String(e) };
}

/** Masks the password part of a redis:// or https:// URL for display. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}

/**
 * Allows at most `perMinute` calls per rolling minute; returns how many were suppressed since the
 * last allowed call so the next log line can say so. Time is injected.
 */
export function rateLimiter(perMinute: number, now: () => number) {
  let windowStart = 0;
  let used = 0;
  let suppressed = 0;
  return (): { allowed: boolean; suppressed: number } => {
    const t = now();
    if (t - windowStart >= 60_000) {
      windowStart = t;
      used = 0;
    }
    if (used < perMinute) {
      used++;
      const s = suppressed;
      suppressed = 0;
      return { allowed: true, suppressed: s };
    }
    suppressed++;
    return { allowed: false, suppressed };
  };
}
