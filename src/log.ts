// The pino logger factory. Secrets never reach a log line: known secret-bearing keys are
// redacted wherever they appear, an error (`err`) is logged as its type, message and code only
// (a client's error may carry the command it failed on, AUTH included), and callers must not
// log raw config objects elsewhere.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export const REDACT_PATHS = [
  'clientSecret',
  '*.clientSecret',
  '*.*.clientSecret',
  'client_secret',
  '*.client_secret',
  'access_token',
  '*.access_token',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  'password',
  '*.password',
  'redisUrl',
];

export function createLogger(opts: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  return pino(
    {
      name: opts.name ?? 'ptim-bridge',
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: errorFields },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
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

/** A logger that discards everything (tests and pure-code defaults). */
export const silentLogger: Logger = pino({ level: 'silent' });

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
