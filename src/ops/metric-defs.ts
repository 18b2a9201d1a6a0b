// Every Prometheus metric of the bridge, in one place, each with a small fixed label set.
// The README's "Metrics" table mirrors this file. The definitions take a factory: prom-client's
// on the main thread (ops/metrics.ts), a few-line one in the worker threads
// (threads/thread-metrics.ts), which then load no prom-client. Only types come from prom-client here.
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What each group of metrics is built with. */
export interface MetricFactory {
  counter<L extends string>(name: string, help: string, labelNames?: readonly L[]): Counter<L>;
  gauge<L extends string>(name: string, help: string, labelNames?: readonly L[]): Gauge<L>;
  histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]): Histogram<L>;
}

/** Every metric, built by `f`. */
export function defineMetrics(f: MetricFactory) {
  return {
    ...ingestMetrics(f),
    ...matchMetrics(f),
    ...sessionMetrics(f),
    ...deliveryMetrics(f),
    ...opsMetrics(f),
  };
}

/** The bridge's metrics and the registry (or registry-like snapshot source) they count in. */
export type Metrics = ReturnType<typeof defineMetrics> & { readonly registry: Registry };

/** Receiving syslog. */
function ingestMetrics({ counter, gauge }: MetricFactory) {
  return {
    received: counter('ptim_syslog_received_total', 'Syslog messages framed and accepted', ['transport']),
    receivedBytes: counter('ptim_syslog_received_bytes_total', 'Bytes of accepted syslog messages', ['transport']),
    /** reason: not_allowed | oversize | bad_frame, and connection outcomes (src/events.ts), queue_full (the hand-off to the matcher thread was full): connection_limit | source_connection_limit | evicted | first_frame_timeout | tls_handshake | tls_handshake_timeout | shutdown */
    dropped: counter('ptim_syslog_dropped_total', 'Syslog messages or connections dropped', ['transport', 'reason']),
    truncated: counter('ptim_syslog_truncated_total', 'Messages cut at ingest.maxMessageBytes', ['transport']),
    continuations: counter(
      'ptim_syslog_continuations_total',
      'LF pieces without <PRI> joined to the previous message (binary IKE-IDs)',
      ['transport'],
    ),
    /** Per-source counts of rejected senders; sources beyond the first 100 are counted as `other`. */
    rejectedSources: counter('ptim_syslog_rejected_sources_total', 'Messages from senders outside the allow-list', ['source']),
    connections: gauge('ptim_syslog_connections', 'Open TCP/TLS syslog connections', ['transport']),
    /** From /proc/net/udp{,6} `drops` of the bridge's own UDP sockets (Linux). */
    kernelDrops: counter('ptim_syslog_kernel_drops_total', 'Datagrams the kernel dropped: socket receive queue full', [
      'transport',
    ]),
    handoffDepth: gauge('ptim_ingest_handoff_lines', 'Candidate lines between the receive thread and the matcher'),
  };
}

/** Prefilter, parse and match; the pattern library. */
function matchMetrics({ counter, gauge }: MetricFactory) {
  return {
    /** result: candidate | skipped */
    prefilter: counter('ptim_prefilter_total', 'Lines by prefilter result', ['result']),
    matched: counter('ptim_pattern_matched_total', 'Lines matched, by pattern id', ['pattern']),
    nearMisses: counter('ptim_pattern_near_miss_total', 'Candidate lines that matched no pattern'),
    /** reason: placeholder_user | no_ip | truncated | invalid_field | excluded */
    ignored: counter('ptim_vpn_lines_ignored_total', 'Matched lines that yield no event', ['reason']),
    /** object: vpn | gateway */
    domainAliasConflicts: counter(
      'ptim_domain_alias_conflicts_total',
      'A VPN or gateway seen with two derived domains within identity.domainAliasWindowSecs (once per pair)',
      ['object'],
    ),
    vpnEvents: counter('ptim_vpn_events_total', 'Normalized VPN events', ['kind']),
    /** result: ok | failed */
    patternReloads: counter('ptim_pattern_reloads_total', 'Pattern library reloads', ['result']),
    patternsLoaded: gauge('ptim_patterns_loaded', 'Patterns in the running library'),
    proofsPending: gauge(
      'ptim_pattern_proofs_pending',
      'Regexes running without a safety verdict yet (proven in the background)',
    ),
    /** result: safe | refused | retry */
    proofs: counter('ptim_pattern_proofs_total', 'Background regex safety proofs, by result', ['result']),
    matchTimeouts: counter('ptim_match_timeouts_total', 'Lines abandoned because one pattern ran past patterns.matchTimeoutMs'),
    quarantines: counter('ptim_pattern_quarantined_total', 'Patterns quarantined after running away', ['pattern']),
    patternsQuarantined: gauge('ptim_patterns_quarantined', 'Patterns currently quarantined (skipped by the matcher)'),
    matcherRestarts: counter('ptim_matcher_restarts_total', 'Matcher threads started again (after a runaway or a crash)'),
  };
}

/** The session engine and its journal. */
function sessionMetrics({ counter, gauge }: MetricFactory) {
  return {
    /** decision: connect | rekey | suppressed | replaced | disconnect | tunnel_down | stale_down | orphan_down | orphan_down_ignored | rekey_no_session | stale_rekey | expired | expire_skipped | out_of_order | resynced | refreshed | resync_skipped | replayed (a journal replay of an event Redis had applied) | error (script rejected the event) */
    decisions: counter('ptim_session_decisions_total', 'Session engine decisions', ['decision']),
    identityEvents: counter('ptim_identity_events_total', 'Identity events written to the outbox', ['kind']),
    sessionsActive: gauge('ptim_sessions_active', 'IPs currently mapped to a user'),
    outOfOrder: counter(
      'ptim_session_events_out_of_order_total',
      "VPN lines refused because they were received before the IP's last applied line",
    ),
    refreshes: counter('ptim_session_refreshes_total', 'Active sessions re-pushed by the periodic refresh'),
    pruned: counter('ptim_session_pruned_total', 'Ended IPs whose bookkeeping was pruned from Redis'),
    bufferDepth: gauge('ptim_session_buffer_events', 'VPN events held in memory while Redis is unreachable'),
    bufferDropped: counter('ptim_session_buffer_dropped_total', 'VPN events dropped because the memory buffer was full'),
    journalBytes: gauge('ptim_session_journal_bytes', 'Bytes of the session journal on disk'),
    journalEvents: gauge('ptim_session_journal_events', 'Journaled VPN events Redis has not applied yet'),
    journalWritten: counter('ptim_session_journal_written_total', 'VPN events written to the session journal'),
    journalReplayed: counter('ptim_session_journal_replayed_total', 'VPN events read back from the session journal'),
    journalDropped: counter('ptim_session_journal_dropped_total', 'Oldest VPN events dropped because the journal was full'),
    /** Corrupt or torn records (and bad segment headers) cut off when the journal was opened. */
    journalCorrupt: counter('ptim_session_journal_corrupt_total', 'Corrupt or truncated journal tails skipped at start'),
    journalWriteErrors: counter('ptim_session_journal_write_errors_total', 'Failed session journal writes (retried)'),
  };
}

/** The outbox, the push queue and JIMS. */
function deliveryMetrics({ counter, gauge, histogram }: MetricFactory) {
  return {
    relayed: counter('ptim_outbox_relayed_total', 'Outbox entries moved into the push queue'),
    relayInvalid: counter('ptim_outbox_invalid_total', 'Outbox entries that are not valid identity events (dropped)'),
    /** state: waiting | delayed | active | failed | completed | outbox */
    queueDepth: gauge('ptim_queue_depth', 'Jobs by state and keyspace shard', ['state', 'shard']),
    oldestQueuedAge: gauge(
      'ptim_queue_oldest_event_age_seconds',
      'Age of the oldest event waiting in the outbox or the wait list (0 when none); polled with ptim_queue_depth',
    ),
    /** outcome: delivered | retry | permanent | superseded */
    pushes: counter('ptim_push_total', 'Push attempts by outcome', ['outcome']),
    pushReattempts: counter(
      'ptim_push_reattempts_total',
      'Pushes of an event whose push had started before (retries, re-runs after a crash or failover): duplicates JIMS may see',
    ),
    pushDuration: histogram(
      'ptim_push_duration_seconds',
      'JIMS push request duration',
      ['server'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    eventLatency: histogram(
      'ptim_event_latency_seconds',
      'Syslog receipt to JIMS acceptance',
      [],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    ),
    failovers: counter('ptim_jims_failovers_total', 'Switches between JIMS servers', ['to']),
    /** result: ok | rejected | error */
    tokenRequests: counter('ptim_jims_token_requests_total', 'OAuth2 token requests', ['result']),
    activeServer: gauge('ptim_jims_active_server', '1 for the JIMS server in use', ['server']),
  };
}

/** Readiness, the console and operational events. */
function opsMetrics({ counter, gauge }: MetricFactory) {
  return {
    ready: gauge('ptim_ready', '1 when every required readiness check passes (as /readyz), else 0'),
    readyCheck: gauge('ptim_ready_check', '1 when the named readiness check passes, else 0', ['check']),
    /** result: recorded | dropped (buffer full) | error (Redis write failed) */
    historyEntries: counter('ptim_history_entries_total', 'Per-IP history entries for the console timeline', ['result']),
    /** result: ok | failed | throttled */
    consoleLogins: counter('ptim_console_logins_total', 'Console login attempts', ['result']),
    /** action: retry | purge; result: ok | refused */
    consoleAdminActions: counter('ptim_console_admin_actions_total', 'Console admin actions (each also one audit log line)', [
      'action',
      'result',
    ]),
    /** event: every operational event without a counter of its own (src/events.ts) */
    operationalEvents: counter(
      'ptim_operational_events_total',
      'Operational events (errors, takeovers) that have no counter of their own, by event name',
      ['event'],
    ),
  };
}
