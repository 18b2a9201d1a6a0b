// How a session decision is made visible: counted, the gauge refreshed, one log line. Shared by
// the engine (VPN lines) and the sweeper (expiries) so both report a decision the same way.
import { historyOf } from '../history/tap.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { ScriptResult } from './script.js';

export interface DecisionContext {
  readonly user?: string;
  readonly domain?: string;
  readonly ip?: string;
  readonly firewall?: string;
  readonly correlationId: string;
}

/** The decision's counters and the active-sessions gauge (resync and refresh report only these: no log line per session). */
export function countDecision(
  metrics: Metrics,
  r: ScriptResult,
  /** Where the shard's active-session count goes (default: the gauge; see SessionAdapterOptions). */
  activeSessions: (active: number) => void = (n) => metrics.sessionsActive.set(n),
): void {
  metrics.decisions.inc({ decision: r.decision });
  if (r.decision === 'out_of_order') metrics.outOfOrder.inc();
  for (const e of r.events) metrics.identityEvents.inc({ kind: e.kind });
  // ZCARD of the shared index: right across replicas, unlike a per-process +1/−1.
  activeSessions(r.active);
}

export function reportDecision(
  metrics: Metrics,
  logger: Logger,
  r: ScriptResult,
  ctx: DecisionContext,
  activeSessions?: (active: number) => void,
): void {
  countDecision(metrics, r, activeSessions);
  historyOf(metrics)?.decision(r, ctx);
  // A decision that emitted identity events is logged at debug: each event's push outcome line
  // carries the event whole (queue/attempt.ts jobLine), one audit line per event. A decision that
  // sends nothing (a duplicate, a line out of order, …) has no other line: info.
  const level = r.events.length > 0 ? 'debug' : 'info';
  if (!logger.isLevelEnabled(level)) return;
  const { user, domain, ip, firewall, correlationId } = ctx;
  logger[level](
    { decision: r.decision, user, domain, ip, seq: r.seq, firewall, correlationId, emitted: r.events.map((e) => e.kind) },
    'session decision',
  );
}
