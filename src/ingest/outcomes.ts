// Connection outcomes of the stream listeners as operational events (src/events.ts): each
// counts `ptim_syslog_dropped_total{transport, reason}` and logs at a bounded rate per outcome
// (a flood of one kind cannot hide the others).
import { createEvents, EVENTS, type EventLevel } from '../events.js';
import type { Logger } from '../log.js';
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

const OUTCOMES: readonly ConnectionOutcome[] = [
  'connection_limit',
  'source_connection_limit',
  'evicted',
  'first_frame_timeout',
  'tls_handshake',
  'tls_handshake_timeout',
  'shutdown',
];

interface OutcomeDefinition {
  readonly level: EventLevel;
  /** The setting an operator would change, named in the log line. */
  readonly setting?: string;
  readonly message: (source: string) => string;
}

const eventOf = (outcome: ConnectionOutcome) => EVENTS[`syslog_${outcome}`];

/** How each outcome is logged: a view of its event definition. */
export const CONNECTION_OUTCOMES: Readonly<Record<ConnectionOutcome, OutcomeDefinition>> = Object.fromEntries(
  OUTCOMES.map((o) => {
    const d = eventOf(o);
    const message = (source: string) => (typeof d.message === 'string' ? d.message : d.message({ source }));
    return [o, { level: d.level, message, ...('setting' in d ? { setting: d.setting } : {}) }];
  }),
) as Record<ConnectionOutcome, OutcomeDefinition>;

export type ReportOutcome = (outcome: ConnectionOutcome, source: string, err?: { message: string; code?: string }) => void;

export function connectionOutcomes(deps: {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly transport: Transport;
  readonly now: () => number;
}): ReportOutcome {
  const emit = createEvents(deps);
  const labels = { transport: deps.transport };
  return (outcome, source, err) => emit(`syslog_${outcome}`, { labels, source, ...(err ? { err } : {}) });
}
