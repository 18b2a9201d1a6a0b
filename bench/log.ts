// CPU per audit log line: the bridge's logger (createLogger: one-pass redaction) against pino with
// the path-based `redact` the bridge used before, same fields, same options otherwise, lines
// written to a sink that drops them (the serialization is what is measured). The best of ROUNDS
// rounds of N lines each is printed. Run: npm run bench:log   Env: N (default 100000), ROUNDS (default 5).
import { pino } from 'pino';
import { createLogger, errorFields } from '../src/log.js';
import { outcomeLine } from '../src/queue/attempt.js';
import { JOB_LINE } from './audit-line.js';

const N = Number(process.env.N ?? 100_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const sink = { write: (_line: string) => {} };

/** The path list pino's `redact` was given before the one-pass redaction. */
const OLD_REDACT_PATHS = [
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

const loggers = {
  'createLogger (one-pass redaction)': createLogger({ level: 'info' }, sink),
  'pino with path redact (before)': pino(
    {
      name: 'ptim-bridge',
      level: 'info',
      redact: { paths: OLD_REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: errorFields },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    sink,
  ),
};

const line = JOB_LINE;

for (const [name, logger] of Object.entries(loggers)) {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.cpuUsage();
    for (let i = 0; i < N; i++)
      logger.info(outcomeLine(line, { outcome: 'delivered', status: 200, server: 'primary' }), 'push delivered');
    const u = process.cpuUsage(t);
    best = Math.min(best, (u.user + u.system) / N);
  }
  console.log(`${name}: ${(best * 1000).toFixed(0)} ns CPU per line (best of ${ROUNDS} × ${N})`);
}
