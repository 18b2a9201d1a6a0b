// Logging from a worker thread: the thread's pino logger writes each record as a message to the
// main thread, which replays it through the process logger. So every line keeps one format, one
// destination and the main logger's secret redaction, whichever thread it came from.
import { pino } from 'pino';
import type { Logger } from '../log.js';

export interface LogRecord {
  readonly t: 'log';
  readonly level: string;
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/** The logger a thread's components use; `level` is the main logger's level. */
export function threadLogger(level: string, post: (r: LogRecord) => void): Logger {
  return pino(
    { level, base: null, timestamp: false },
    {
      write(line: string) {
        const { level: n, msg, ...obj } = JSON.parse(line) as { level: number; msg?: string } & Record<string, unknown>;
        post({ t: 'log', level: pino.levels.labels[n] ?? 'info', obj, msg: msg ?? '' });
      },
    },
  );
}

/** Main thread: writes a thread's record through the process logger, naming the thread. */
export function replayLog(logger: Logger, thread: string, r: LogRecord): void {
  const level = LEVELS.has(r.level) ? (r.level as 'info') : 'info';
  logger[level]({ ...r.obj, thread }, r.msg);
}
