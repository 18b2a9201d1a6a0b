// Logging from a worker thread: the thread's logger posts each record as a message to the main
// thread, which replays it through the process logger. So every line keeps one format, one
// destination and the main logger's secret redaction, whichever thread it came from. The
// thread's logger is a few lines, not pino: a thread logs rarely (operational events are
// rate-limited), and pino would cost each thread megabytes of heap.
import type { Logger } from '../log.js';
import { errorFields } from '../log-parts.js';

export interface LogRecord {
  readonly t: 'log';
  readonly level: string;
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
type Level = (typeof LEVELS)[number];

/**
 * A record's fields as plain data a message can carry: an error as its type, message and code, a
 * bigint as text, an object met again (a cycle) as `[Circular]`. Never throws: a line is not worth
 * a thread.
 */
function plain(obj: unknown): Record<string, unknown> {
  if (typeof obj !== 'object' || obj === null) return {};
  const seen = new WeakSet<object>();
  try {
    const json = JSON.stringify(obj, (_k, v: unknown) => {
      if (v instanceof Error) return errorFields(v);
      if (typeof v === 'bigint') return String(v);
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return '[Circular]';
        seen.add(v);
      }
      return v;
    });
    return JSON.parse(json) as Record<string, unknown>;
  } catch (e) {
    return { logFieldsError: errorFields(e) };
  }
}

/**
 * The logger a thread's components use; `level` is the main logger's level. It takes the calls
 * the bridge makes: `logger[level](fields, message)`, `logger[level](message)`, and `child(fields)`.
 */
export function threadLogger(level: string, post: (r: LogRecord) => void, bindings: Record<string, unknown> = {}): Logger {
  const threshold = Math.max(0, LEVELS.indexOf(level as Level));
  const logger: Record<string, unknown> = {
    level,
    child: (more: Record<string, unknown>) => threadLogger(level, post, { ...bindings, ...plain(more) }),
    isLevelEnabled: (l: string) => LEVELS.indexOf(l as Level) >= threshold,
  };
  LEVELS.forEach((name, i) => {
    logger[name] = (fields?: unknown, msg?: unknown) => {
      if (i < threshold) return;
      const [obj, text] = typeof fields === 'string' ? [{}, fields] : [plain(fields), typeof msg === 'string' ? msg : ''];
      post({ t: 'log', level: name, obj: { ...bindings, ...obj }, msg: text });
    };
  });
  return logger as unknown as Logger;
}

/** Main thread: writes a thread's record through the process logger, naming the thread. */
export function replayLog(logger: Logger, thread: string, r: LogRecord): void {
  const level = (LEVELS as readonly string[]).includes(r.level) ? (r.level as Level) : 'info';
  logger[level]({ ...r.obj, thread }, r.msg);
}
