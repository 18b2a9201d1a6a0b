// Connection outcomes of the stream listeners as typed events: one definition per outcome says
// how it is logged; every report counts `ptim_syslog_dropped_total{transport, reason}` and logs
// at a bounded rate per outcome (a flood of one kind cannot hide the others).
import { rateLimiter, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Transport } from '../types.js';

export type ConnectionOutcome =
  | 'connection_limit'
  | 'source_connection_limit'
  | 'evicted'
  | 'first_frame_timeout'
  | 'tls_handshake'
  | 'tls_handshake_timeout'
  | 'shutdown';

interface OutcomeDefinition {
  readonly level: 'warn' | 'info' | 'debug';
  /** The setting an operator would change, named in the log line. */
  readonly setting?: string;
  readonly message: (source: string) => string;
}

export const CONNECTION_OUTCOMES: Readonly<Record<ConnectionOutcome, OutcomeDefinition>> = {
  connection_limit: {
    level: 'warn',
    setting: 'ingest.maxConnections',
    message: (s) => `refused syslog connection from ${s}: ingest.maxConnections reached`,
  },
  source_connection_limit: {
    level: 'warn',
    setting: 'ingest.maxConnectionsPerSource',
    message: (s) => `refused syslog connection from ${s}: ingest.maxConnectionsPerSource reached for this source`,
  },
  evicted: {
    level: 'warn',
    setting: 'ingest.maxConnections',
    message: (s) => `closed the longest-idle syslog connection from ${s} to admit a configured firewall (table full)`,
  },
  first_frame_timeout: {
    level: 'info',
    setting: 'ingest.firstFrameTimeoutSecs',
    message: (s) => `closed syslog connection from ${s}: no complete message within ingest.firstFrameTimeoutSecs`,
  },
  tls_handshake: { level: 'warn', message: (s) => `syslog TLS handshake with ${s} failed` },
  tls_handshake_timeout: {
    level: 'warn',
    setting: 'ingest.tls.handshakeTimeoutSecs',
    message: (s) => `syslog TLS handshake with ${s} timed out`,
  },
  shutdown: { level: 'debug', message: (s) => `closed syslog connection from ${s}: shutting down` },
};

/** Log lines per minute for each outcome (the counter always counts). */
const LOG_PER_MINUTE = 10;

export type ReportOutcome = (outcome: ConnectionOutcome, source: string, err?: { message: string; code?: string }) => void;

export function connectionOutcomes(deps: {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly transport: Transport;
  readonly now: () => number;
}): ReportOutcome {
  const { metrics, logger, transport } = deps;
  const limiters = new Map<ConnectionOutcome, ReturnType<typeof rateLimiter>>();
  return (outcome, source, err) => {
    metrics.dropped.inc({ transport, reason: outcome });
    let limit = limiters.get(outcome);
    if (!limit) limiters.set(outcome, (limit = rateLimiter(LOG_PER_MINUTE, deps.now)));
    const gate = limit();
    if (!gate.allowed) return;
    const def = CONNECTION_OUTCOMES[outcome];
    logger[def.level](
      {
        event: `syslog_${outcome}`,
        transport,
        source,
        suppressed: gate.suppressed,
        ...(def.setting ? { setting: def.setting } : {}),
        ...(err ? { err } : {}),
      },
      def.message(source),
    );
  };
}
