// The pino logger factory. Secrets never reach a log line: known secret-bearing keys are
// redacted at the top of a log object and up to two levels down, an error (`err`) is logged as its
// type, message and code only (a client's error may carry the command it failed on, AUTH included),
// and callers must not log raw config objects elsewhere.
import { pino, type Logger, type DestinationStream } from 'pino';
import { errorFields, redactSecrets } from './log-parts.js';

export { errorFields, maskUrl, rateLimiter, redactSecrets, SECRET_KEYS } from './log-parts.js';

export type { Logger } from 'pino';

export function createLogger(opts: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  const logger = pino(
    {
      name: opts.name ?? 'ptim-bridge',
      level: opts.level ?? 'info',
      formatters: { log: redactSecrets, bindings: redactSecrets },
      serializers: { err: errorFields },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
  // pino applies the bindings formatter to the base bindings only: a child's bindings are
  // redacted here, for children of children too (they inherit this method).
  const child = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  } as Logger['child'];
  return logger;
}

/** A logger that discards everything (tests and pure-code defaults). */
export const silentLogger: Logger = pino({ level: 'silent' });
