// Where the bridge's stages hand their facts to the per-IP history: one call each at the syslog
// sink (app.ts), the session decision report (sessions/report.ts) and the push workers' per-event
// outcome (`onOutcome`, so batch jobs report each event too). Each call only builds a small object and buffers
// it; the recorder writes off the hot path.
//
// The decision report receives no new dependency: the tap is found through the bridge's Metrics
// object, the one per-bridge object every stage already gets. Several bridges in one process
// (tests) each have their own Metrics, so their histories do not mix.
import type { Metrics } from '../ops/metrics.js';
import type { PushOutcomeListener } from '../queue/attempt.js';
import { HISTORY_DETAIL_CHARS, type HistoryEntry } from './entries.js';
import type { VpnEvent } from '../types.js';
import { createHistoryRecorder, type HistoryRecorder } from './recorder.js';

export interface HistoryTap {
  /** A matched line's event (recorded for each of its IPs). */
  line(event: VpnEvent, correlationId: string): void;
  decision(
    r: { readonly decision: string; readonly seq: number; readonly events: readonly { readonly kind: string }[] },
    ctx: { readonly ip?: string; readonly user?: string; readonly correlationId: string },
  ): void;
  /** A push outcome (the push workers' `onOutcome`). */
  pushed: PushOutcomeListener;
  start(): void;
  stop(): Promise<void>;
  readonly recorder: HistoryRecorder;
}

/** An entry without its time (each member of the union without `at`). */
type Unstamped = HistoryEntry extends infer E ? (E extends unknown ? Omit<E, 'at'> : never) : never;

const taps = new WeakMap<Metrics, HistoryTap>();

/** The history tap of the bridge that owns `metrics`, if it records history. */
export const historyOf = (metrics: Metrics): HistoryTap | undefined => taps.get(metrics);

/** The tap of a bridge that records no history: every call a no-op. */
const offTap = (recorder: HistoryRecorder): HistoryTap => ({
  recorder,
  line: () => {},
  decision: () => {},
  pushed: () => {},
  start: () => {},
  stop: async () => {},
});

export function createHistoryTap(deps: Parameters<typeof createHistoryRecorder>[0]): HistoryTap {
  const rec = createHistoryRecorder(deps);
  // Off (nothing kept per IP): the stages' calls do nothing, not even build an entry.
  if (deps.cfg.maxEntriesPerIp === 0) return offTap(rec);
  /** A fact the bridge makes itself (a decision, a push): stamped now, for its IP when it names one. */
  const recordNow = (ip: string | undefined, entry: Unstamped): void => {
    // Object.assign: a spread followed by a property is V8's slow path on Node 20 (`npm run bench:spread`).
    if (ip) rec.record(ip, Object.assign({}, entry, { at: deps.clock.now() }));
  };
  const tap: HistoryTap = {
    recorder: rec,
    line(event, correlationId) {
      // The raw line stays in the matcher thread; the event carries its source and first characters.
      for (const ip of event.ips)
        rec.record(ip, {
          type: 'line',
          at: event.receivedAt,
          correlationId,
          kind: event.kind,
          user: event.user,
          firewall: event.firewall,
          patternId: event.patternId,
          ...(event.line ?? {}),
        });
    },
    decision(r, ctx) {
      recordNow(ctx.ip, {
        type: 'decision',
        correlationId: ctx.correlationId,
        decision: r.decision,
        seq: r.seq,
        emitted: r.events.map((e) => e.kind),
        ...(ctx.user !== undefined ? { user: ctx.user } : {}),
      });
    },
    pushed(ev, note) {
      recordNow(ev.ip, {
        type: 'push',
        correlationId: ev.correlationId,
        jobId: note.jobId,
        kind: ev.kind,
        seq: ev.seq,
        attempt: note.attempt,
        outcome: note.outcome,
        ...(note.detail ? { detail: note.detail.slice(0, HISTORY_DETAIL_CHARS) } : {}),
      });
    },
    start() {
      taps.set(deps.metrics, tap);
      rec.start();
    },
    async stop() {
      await rec.stop();
      taps.delete(deps.metrics);
    },
  };
  return tap;
}
