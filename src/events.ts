// Operational events: one way to report that something happened that an operator may need to
// know about (an error path, a dropped input, a takeover). Each event is defined once below —
// its log level, its message, the counter it adds to with fixed labels, and the labels each
// occurrence gives — and reported with `emit(name, …)`. Every occurrence is counted; the log
// line is written at a bounded rate per event and label values (a flood of one kind cannot
// hide the others), and the next line written says how many were held back. The README's
// "Operational events" table lists every event.
import type { Counter, Gauge } from 'prom-client';
import type { Logger } from './log.js';
import { rateLimiter } from './log-parts.js';
import type { Metrics } from './ops/metrics.js';

export { errorFields } from './log-parts.js';

export type EventLevel = 'debug' | 'info' | 'warn' | 'error';

/** Log lines per minute for each event and label values, unless the definition says otherwise. */
export const DEFAULT_LOG_PER_MINUTE = 6;

type CounterKey = {
  [K in keyof Metrics]: Metrics[K] extends Gauge<string> ? never : Metrics[K] extends Counter<string> ? K : never;
}[keyof Metrics];

export interface EventDefinition<L extends string = string> {
  readonly level: EventLevel;
  /** The log message; a function when it names a field of the occurrence (e.g. the source). */
  readonly message: string | ((fields: Readonly<Record<string, unknown>>) => string);
  /** The counter every occurrence adds to. */
  readonly counter: CounterKey;
  /** Label values the definition fixes (`ptim_operational_events_total` gets `event` = the name). */
  readonly fixed?: Readonly<Record<string, string>>;
  /** Labels each occurrence gives (small, fixed value sets); they also key the log rate. */
  readonly labels: readonly L[];
  /** The setting an operator would change, named in the log line. */
  readonly setting?: string;
  /** Log lines per minute (default DEFAULT_LOG_PER_MINUTE). */
  readonly logPerMinute?: number;
}

const def = <L extends string = never>(d: EventDefinition<L>): EventDefinition<L> => d;

/** Events with no counter of their own are counted in ptim_operational_events_total{event}. */
const ops = (d: Omit<EventDefinition<never>, 'counter' | 'labels'>): EventDefinition<never> => ({
  ...d,
  counter: 'operationalEvents',
  labels: [],
});

const outcome = (
  reason: string,
  level: EventLevel,
  message: (source: string) => string,
  setting?: string,
): EventDefinition<'transport'> =>
  def({
    level,
    counter: 'dropped',
    fixed: { reason },
    labels: ['transport'],
    message: (f) => message(String(f.source)),
    ...(setting ? { setting } : {}),
    // Connection outcomes come in storms (a flood of connections): a few more lines each.
    logPerMinute: 10,
  });

export const EVENTS = {
  // ingest: connection outcomes of the stream listeners (ptim_syslog_dropped_total{reason})
  syslog_connection_limit: outcome(
    'connection_limit',
    'warn',
    (s) => `refused syslog connection from ${s}: ingest.maxConnections reached`,
    'ingest.maxConnections',
  ),
  syslog_source_connection_limit: outcome(
    'source_connection_limit',
    'warn',
    (s) => `refused syslog connection from ${s}: ingest.maxConnectionsPerSource reached for this source`,
    'ingest.maxConnectionsPerSource',
  ),
  syslog_evicted: outcome(
    'evicted',
    'warn',
    (s) => `closed the longest-idle syslog connection from ${s} to admit a configured firewall (table full)`,
    'ingest.maxConnections',
  ),
  syslog_first_frame_timeout: outcome(
    'first_frame_timeout',
    'info',
    (s) => `closed syslog connection from ${s}: no complete message within ingest.firstFrameTimeoutSecs`,
    'ingest.firstFrameTimeoutSecs',
  ),
  syslog_tls_handshake: outcome('tls_handshake', 'warn', (s) => `syslog TLS handshake with ${s} failed`),
  syslog_tls_handshake_timeout: outcome(
    'tls_handshake_timeout',
    'warn',
    (s) => `syslog TLS handshake with ${s} timed out`,
    'ingest.tls.handshakeTimeoutSecs',
  ),
  syslog_shutdown: outcome('shutdown', 'debug', (s) => `closed syslog connection from ${s}: shutting down`),
  // ingest: other
  syslog_not_allowed: def({
    level: 'warn',
    counter: 'dropped',
    fixed: { reason: 'not_allowed' },
    labels: ['transport'],
    setting: 'ingest.allowedSources',
    message: (f) =>
      `dropped syslog from ${String(f.source)} (${String(f.transport)}): sender not in ingest.allowedSources; add its address or CIDR there to accept it`,
  }),
  syslog_handler_failed: ops({ level: 'error', message: 'syslog message handler failed' }),
  syslog_socket_error: ops({ level: 'error', message: 'syslog socket error' }),
  /** Resets and half-finished handshakes are routine: logged at debug only. */
  syslog_connection_error: ops({ level: 'debug', message: 'syslog connection error' }),

  // threads: the receive thread, the hand-off and the matcher thread
  handoff_full: def({
    level: 'warn',
    counter: 'dropped',
    fixed: { reason: 'queue_full' },
    labels: ['transport'],
    setting: 'ingest.handoffMaxLines',
    message: 'hand-off queue to the matcher is full: candidate line dropped (the matcher is stalled or too slow)',
  }),
  kernel_drops: def({
    level: 'warn',
    counter: 'kernelDrops',
    labels: ['transport'],
    setting: 'ingest.udp.receiveBufferBytes',
    message:
      'the kernel dropped UDP syslog datagrams: the receive queue was full (raise ingest.udp.receiveBufferBytes and net.core.rmem_max)',
  }),
  receive_thread_exited: ops({ level: 'error', message: 'receive thread exited: syslog is not being received' }),
  receive_thread_failed: ops({ level: 'error', message: 'receive thread failed' }),
  matcher_thread_failed: ops({ level: 'error', message: 'matcher thread failed' }),
  matcher_thread_exited: ops({ level: 'error', message: 'matcher thread exited; starting a new one' }),
  matcher_start_failed: ops({ level: 'error', message: 'matcher thread could not start; retrying' }),
  pattern_quarantined: def({
    level: 'error',
    counter: 'quarantines',
    labels: ['pattern'],
    setting: 'patterns.matchTimeoutMs',
    message: (f) =>
      `pattern ${String(f.pattern)} ran past ${String(f.matchTimeoutMs)} ms on one line: quarantined (skipped from now on; fix its regex and reload)`,
  }),
  quarantine_read_failed: ops({ level: 'error', message: 'could not read the stored pattern quarantine' }),
  quarantine_persist_failed: ops({ level: 'error', message: 'could not persist the pattern quarantine' }),

  // parse and match
  near_miss: def({
    level: 'warn',
    counter: 'nearMisses',
    labels: [],
    message: 'VPN-looking line matched no pattern (try `ptim-bridge patterns explain`)',
  }),
  pipeline_failed: ops({ level: 'error', message: 'pipeline failed on a line' }),
  domain_alias_conflict: def({
    level: 'warn',
    counter: 'domainAliasConflicts',
    labels: ['object'],
    message: (f) => `one ${f.object === 'vpn' ? 'VPN' : 'gateway'} seen with two domains: JIMS gets its users under both`,
  }),
  pattern_watch_failed: ops({ level: 'warn', message: 'pattern directory watch failed; use SIGHUP to reload' }),
  verdict_cache_write_failed: ops({
    level: 'warn',
    setting: 'patterns.verdictCacheFile',
    message: 'cannot write the regex verdict cache; proofs are repeated at the next start',
  }),

  // sessions: the engine, its journal and the sweeper
  session_event_dropped: def({
    level: 'warn',
    counter: 'bufferDropped',
    labels: [],
    message: 'session event dropped',
  }),
  session_script_rejected: def({
    level: 'error',
    counter: 'decisions',
    fixed: { decision: 'error' },
    labels: [],
    message: 'session script rejected event',
  }),
  session_not_an_ip: def({
    level: 'warn',
    counter: 'ignored',
    fixed: { reason: 'no_ip' },
    labels: [],
    message: 'not an IP address',
  }),
  session_redis_call_failed: ops({ level: 'warn', message: 'redis unreachable: holding session events in memory' }),
  session_engine_loop_failed: ops({ level: 'error', message: 'session engine loop failed' }),
  session_submit_failed: ops({ level: 'error', message: 'session submit failed' }),
  session_journal_full: def({
    level: 'warn',
    counter: 'journalDropped',
    labels: [],
    setting: 'sessions.journalMaxBytes',
    message: 'session journal full: dropped the oldest events',
  }),
  session_journal_write_failed: def({
    level: 'error',
    counter: 'journalWriteErrors',
    labels: [],
    message: 'session journal write failed',
  }),
  session_journal_corrupt: def({
    level: 'warn',
    counter: 'journalCorrupt',
    labels: [],
    message: 'session journal: corrupt or torn tail skipped',
  }),
  session_sweep_failed: ops({ level: 'warn', message: 'session sweep failed; will retry' }),
  session_refresh_failed: ops({ level: 'warn', message: 'session refresh failed; will retry' }),

  // Redis and the queue
  redis_connection_error: ops({ level: 'warn', message: 'redis connection error' }),
  outbox_invalid_entry: def({
    level: 'error',
    counter: 'relayInvalid',
    labels: [],
    message: 'outbox entry is not a valid identity event; dropped',
  }),
  outbox_reclaimed: ops({ level: 'warn', message: 'reclaimed outbox entries of a stalled relay consumer' }),
  outbox_relay_error: ops({ level: 'warn', message: 'outbox relay error; retrying' }),
  push_queue_error: ops({ level: 'warn', message: 'push queue error' }),
  push_worker_error: ops({ level: 'warn', message: 'push worker error' }),
  push_job_error: ops({ level: 'warn', message: 'push job error; will be retried' }),
  push_lock_release_failed: ops({ level: 'warn', message: 'could not release IP lock' }),
  queue_depth_poll_failed: ops({ level: 'warn', message: 'queue depth poll failed' }),

  // JIMS
  jims_failover: def({
    level: 'warn',
    counter: 'failovers',
    labels: ['to'],
    message: (f) => `JIMS: switched to the ${String(f.to)} server`,
  }),
  jims_credentials_rejected: def({
    level: 'error',
    counter: 'tokenRequests',
    fixed: { result: 'rejected' },
    labels: [],
    message: 'JIMS rejected the client credentials; check clientId/clientSecret and tokenRequestStyle',
  }),

  jims_certificate_untrusted: ops({
    level: 'error',
    message:
      'JIMS certificate is not trusted; this will not heal by itself: set caFile to the CA that signed it (or, knowingly, tlsVerify: false)',
  }),

  // console
  console_login_failed: def({
    level: 'warn',
    counter: 'consoleLogins',
    fixed: { result: 'failed' },
    labels: [],
    message: 'console login failed',
    logPerMinute: 10,
  }),
  console_request_failed: ops({ level: 'warn', message: 'console request failed' }),
  history_write_failed: def({
    level: 'warn',
    counter: 'historyEntries',
    fixed: { result: 'error' },
    labels: [],
    message: 'history write failed',
  }),
} as const;

export type EventName = keyof typeof EVENTS;
type LabelsOf<N extends EventName> = (typeof EVENTS)[N] extends EventDefinition<infer L> ? L : never;

/** One occurrence: its labels (when the event has any), an error, and context for the log line. */
export type Occurrence<N extends EventName> = {
  /** The error, logged as `err: { type, message, code }` by the logger's serializer (src/log.ts). */
  readonly err?: unknown;
  /** How many the counter adds (default 1): one occurrence may stand for a batch. */
  readonly count?: number;
  readonly [field: string]: unknown;
} & ([LabelsOf<N>] extends [never]
  ? { readonly labels?: undefined }
  : { readonly labels: Readonly<Record<LabelsOf<N>, string>> });

export type Emit = <N extends EventName>(name: N, occurrence?: Occurrence<N>) => void;

/** An emitter that reports nowhere: for command-line tools and tests that do not count. */
export const ignoreEvents: Emit = () => {};

export interface EventsDeps {
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Milliseconds; drives the log rate only. */
  readonly now: () => number;
  /** Log rates set by configuration (e.g. patterns.nearMissLogPerMinute), by event. */
  readonly logPerMinute?: Partial<Record<EventName, number>>;
}

/**
 * The emitter of one component. Rates are kept per emitter, event and label values; counters are
 * the shared registry's.
 */
export function createEvents(deps: EventsDeps): Emit {
  const limiters = new Map<string, ReturnType<typeof rateLimiter>>();
  return (name, occurrence) => {
    const d: EventDefinition = EVENTS[name];
    const { err, count, labels, ...fields } = (occurrence ?? {}) as Occurrence<EventName> & { labels?: Record<string, string> };
    const counter = deps.metrics[d.counter] as Counter<string>;
    // Object.assign, not spreads: on Node 20 spreads of several objects take V8's slow path, and a
    // flood of refused datagrams counts one event each (`npm run bench:spread`).
    const all = Object.assign({}, d.fixed, d.counter === 'operationalEvents' ? { event: name } : undefined, labels);
    counter.inc(all, count ?? 1);
    const key = labels ? `${name}\0${Object.values(labels).join('\0')}` : name;
    let limit = limiters.get(key);
    if (!limit) {
      limit = rateLimiter(deps.logPerMinute?.[name] ?? d.logPerMinute ?? DEFAULT_LOG_PER_MINUTE, deps.now);
      limiters.set(key, limit);
    }
    const gate = limit();
    if (!gate.allowed) return;
    const line = {
      event: name,
      ...labels,
      ...fields,
      ...(err !== undefined ? { err } : {}),
      ...(d.setting ? { setting: d.setting } : {}),
      suppressed: gate.suppressed,
    };
    deps.logger[d.level](line, typeof d.message === 'string' ? d.message : d.message(line));
  };
}
