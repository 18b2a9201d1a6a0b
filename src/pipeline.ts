// The one synchronous path from a framed syslog message to a VpnEvent:
// prefilter → parse → match → normalize. Production and the golden test drive exactly this.
// It never throws on input: every outcome is counted, near-misses are logged at a limited rate.
import type { IdentityConfig } from './config/schema.js';
import { createDomainAliasWatch } from './identity/domain-alias.js';
import { normalize, type IgnoredReason, type NormalizeResult } from './identity/normalize.js';
import { createEvents } from './events.js';
import type { Logger } from './log.js';
import { explainStages, type Explanation } from './match/explain.js';
import type { Library } from './match/library.js';
import { matchMessage, type Match, type Miss } from './match/matcher.js';
import type { Fields } from './match/transforms.js';
import type { Metrics } from './ops/metrics.js';
import { parseSyslog } from './syslog/parse.js';
import type { Clock, RawMessage, SyslogMessage, VpnEvent } from './types.js';

export type PipelineOutcome =
  | { readonly type: 'skipped' }
  | { readonly type: 'near-miss'; readonly candidate?: string; readonly reason: string }
  /** A bug in a stage (they are total): counted as pipeline_failed, never as a near miss. */
  | { readonly type: 'failed'; readonly reason: string }
  | { readonly type: 'ignored'; readonly reason: IgnoredReason; readonly patternId: string; readonly detail: string }
  | { readonly type: 'event'; readonly event: VpnEvent; readonly fields: Fields };

export interface PipelineDeps {
  readonly library: Library;
  readonly identity: IdentityConfig;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
  /** patterns.nearMissLogPerMinute (default 6). */
  readonly nearMissLogPerMinute?: number;
  /** patterns.maxFieldBytes (default 1024). */
  readonly maxFieldBytes?: number;
}

export interface Pipeline {
  process(raw: RawMessage): PipelineOutcome;
  /** Adds the batched `skipped` count to the prefilter metric (call before a scrape; see below). */
  flushMetrics(): void;
  /** Swaps the library; the next message uses the new one (single-threaded, so atomic). */
  setLibrary(library: Library): void;
  readonly library: Library;
}

const SKIPPED: PipelineOutcome = Object.freeze({ type: 'skipped' });

const SKIP_BATCH = 256;

/** patterns.maxFieldBytes when none is given. */
const DEFAULT_MAX_FIELD_BYTES = 1024;

/** How much of a near-miss line goes into a log record. */
const LOG_SAMPLE_CHARS = 512;

/** What the stages after the prefilter made of one line; a match is normalized too. */
export type Staged =
  | { readonly matched: false; readonly msg: SyslogMessage; readonly match: Miss }
  | { readonly matched: true; readonly msg: SyslogMessage; readonly match: Match; readonly normalized: NormalizeResult };

/**
 * The stages after the prefilter that decide whether a line is a VPN event: parse → match →
 * normalize. `process` and `explainLine` both run exactly this, so what `explain` shows is what
 * the bridge does.
 */
export function runStages(library: Library, identity: IdentityConfig, raw: RawMessage, maxFieldBytes: number): Staged {
  const msg = parseSyslog(raw.bytes);
  const match = matchMessage(library.patterns, msg, raw.bytes);
  if (!match.matched) return { matched: false, msg, match };
  return { matched: true, msg, match, normalized: normalize(match, raw, msg, identity, { maxFieldBytes }) };
}

/**
 * The pipeline's path for one line, traced stage by stage for `explain`: run even when the
 * prefilter would skip the line, so `explain` can show that a pattern's literal is wrong.
 */
export function explainLine(
  library: Library,
  identity: IdentityConfig,
  raw: RawMessage,
  opts: { maxFieldBytes?: number } = {},
): Explanation {
  return explainStages(library, raw, runStages(library, identity, raw, opts.maxFieldBytes ?? DEFAULT_MAX_FIELD_BYTES));
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  const { identity, metrics, logger, clock } = deps;
  let library = deps.library;
  let prefilter = library.prefilter;
  const maxFieldBytes = deps.maxFieldBytes ?? DEFAULT_MAX_FIELD_BYTES;
  const emit = createEvents({
    metrics,
    logger,
    now: () => clock.now(),
    logPerMinute: { near_miss: deps.nearMissLogPerMinute ?? 6 },
  });
  // The skip path runs for nearly every line: a prom-client inc() costs more than the prefilter
  // scan itself, so skips are counted locally and added in batches (at most SKIP_BATCH behind,
  // i.e. well under a millisecond at full rate; flushMetrics() settles it before a scrape).
  const skipped = metrics.prefilter.labels({ result: 'skipped' });
  const candidate = metrics.prefilter.labels({ result: 'candidate' });
  let skippedPending = 0;
  const flushMetrics = () => {
    if (skippedPending > 0) skipped.inc(skippedPending);
    skippedPending = 0;
  };

  // Run-time half of the domain-alias rule: state over a window, so it lives here, not in normalize.
  const aliases = createDomainAliasWatch({ clock, metrics, logger, windowSecs: identity.domainAliasWindowSecs });

  const countLoaded = (lib: Library) => metrics.patternsLoaded.set(lib.patterns.filter((p) => p.enabled).length);
  countLoaded(library);

  function processLine(raw: RawMessage): PipelineOutcome {
    if (!prefilter(raw.bytes)) {
      if (++skippedPending >= SKIP_BATCH) flushMetrics();
      return SKIPPED;
    }
    candidate.inc();
    try {
      const s = runStages(library, identity, raw, maxFieldBytes);
      if (!s.matched) {
        const m = s.match;
        emit('near_miss', {
          candidate: m.candidate?.id,
          code: m.code,
          reason: m.reason,
          source: raw.sourceIp,
          line: raw.bytes.toString('latin1', 0, LOG_SAMPLE_CHARS),
        });
        return { type: 'near-miss', ...(m.candidate ? { candidate: m.candidate.id } : {}), reason: m.reason };
      }
      const { match: m, normalized: n } = s;
      metrics.matched.inc({ pattern: m.patternId });
      if (n.type === 'ignored') {
        metrics.ignored.inc({ reason: n.reason });
        return { type: 'ignored', reason: n.reason, patternId: m.patternId, detail: n.detail };
      }
      metrics.vpnEvents.inc({ kind: n.event.kind });
      aliases.observe(n.event, n.domainFrom);
      return { type: 'event', event: n.event, fields: m.fields };
    } catch (e) {
      // Defence in depth: the stages are total, but one bad line must never stop ingest.
      emit('pipeline_failed', { err: e, source: raw.sourceIp });
      return { type: 'failed', reason: `internal error: ${String(e)}` };
    }
  }

  return {
    process: processLine,
    flushMetrics,
    setLibrary(next: Library) {
      library = next;
      prefilter = next.prefilter;
      countLoaded(next);
    },
    get library() {
      return library;
    },
  };
}
