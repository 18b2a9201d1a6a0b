// Safety proofs of the running library, for `serve`. A library loads with the verdicts already
// stored (verdicts.ts); a regex nobody has proven yet runs meanwhile — guarded at match time by
// `patterns.matchTimeoutMs` — and is proven here in the background. Safe: it stays. Vulnerable
// or unreadable: it is removed from the running library, with a logged, counted refusal (and
// the next load of the same regex refuses the library, as for any known-bad regex).
import { createEvents } from '../events.js';
import { systemClock, type Clock } from '../types.js';
import type { PatternsConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { createCheckerProcess, type CheckerProcess } from './checker.js';
import { withoutPatterns, type Library, type PendingProof } from './library.js';
import { createProver, type Prover, type ProverOptions } from './prover.js';
import { safetyAdvice, type Verdict } from './regex-safety.js';
import type { SharedVerdicts } from './verdict-redis.js';
import { createVerdictStore, defaultVerdictCacheFile, type VerdictStore } from './verdicts.js';

export interface PatternProofs {
  /** The stored verdicts: what libraries are loaded with. */
  readonly store: VerdictStore;
  /** Takes a freshly loaded library; returns it as it must run (verdicts learnt meanwhile applied) and queues its proofs. */
  offer(lib: Library): Library;
  /** Starts the background proofs (after Redis is connected, when there is one). */
  start(shared?: SharedVerdicts): void;
  /** The regexes of the running library still awaiting their verdict. */
  pending(): readonly PendingProof[];
  /** For `/readyz` (informative): ok when nothing awaits a proof, else which patterns do. */
  readiness(): { ok: boolean; detail?: string };
  close(): void;
}

export interface PatternProofsOptions {
  readonly cfg: Pick<PatternsConfig, 'dirs' | 'verdictCacheFile'>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Installs a library in the pipeline (when a refusal removes a pattern). */
  readonly install: (lib: Library) => void;
  /** For the log rate of operational events. */
  readonly clock?: Clock;
  /** Tests inject a checker and retry timing. */
  readonly checker?: Pick<CheckerProcess, 'run' | 'close'>;
  readonly prover?: Partial<Pick<ProverOptions, 'retry' | 'timeoutMs' | 'random'>>;
}

/** The verdict store of a configuration: shipped, per-directory and cache-file verdicts. */
export function verdictStoreFor(
  cfg: { readonly dirs: readonly string[]; readonly verdictCacheFile: string | null },
  onWriteError?: (err: Error, cacheFile: string) => void,
): VerdictStore {
  const cacheFile = cfg.verdictCacheFile ?? defaultVerdictCacheFile();
  return createVerdictStore({
    dirs: cfg.dirs,
    cacheFile,
    ...(onWriteError ? { onWriteError: (err: Error) => onWriteError(err, cacheFile) } : {}),
  });
}

const isRefusal = (v: Verdict | undefined) => v !== undefined && v.status !== 'safe';

export function createPatternProofs(opts: PatternProofsOptions): PatternProofs {
  const { logger, metrics } = opts;
  const clock = opts.clock ?? systemClock;
  const emit = createEvents({ metrics, logger, now: () => clock.now() });
  const store = verdictStoreFor(opts.cfg, (err, cacheFile) => emit('verdict_cache_write_failed', { err, cacheFile }));
  let current: Library | undefined;

  const refuse = (lib: Library, refused: readonly { proof: PendingProof; verdict: Verdict }[]): Library => {
    for (const { proof, verdict } of refused) {
      metrics.proofs.inc({ result: 'refused' });
      logger.error(
        { pattern: proof.patternId, file: proof.file, line: proof.line, problem: safetyAdvice(verdict) },
        'pattern refused by its safety proof: removed from the running library',
      );
    }
    return withoutPatterns(lib, new Set(refused.map((r) => r.proof.patternId)));
  };

  const onVerdict = (proof: PendingProof, verdict: Verdict) => {
    const lib = current;
    if (!lib?.pendingProofs.some((p) => p.key === proof.key && p.patternId === proof.patternId)) return;
    if (!isRefusal(verdict)) {
      metrics.proofs.inc({ result: 'safe' });
      logger.info({ pattern: proof.patternId, file: proof.file, line: proof.line }, 'pattern regex proven safe');
      current = { ...lib, pendingProofs: lib.pendingProofs.filter((p) => p !== proof && p.key !== proof.key) };
      return;
    }
    current = refuse(lib, [{ proof, verdict }]);
    opts.install(current);
  };

  const prover: Prover = createProver({
    store,
    checker: opts.checker ?? createCheckerProcess(),
    onVerdict,
    onRetry: (proof, reason, retryInMs) => {
      metrics.proofs.inc({ result: 'retry' });
      logger.warn(
        { pattern: proof.patternId, reason, retryInMs },
        'regex safety proof did not finish; retrying later (the pattern stays active)',
      );
    },
    onPendingChange: (n) => metrics.proofsPending.set(n),
    ...opts.prover,
  });

  return {
    store,
    offer(lib) {
      // Verdicts may have arrived while this library was loading.
      const refused = lib.pendingProofs.flatMap((proof) => {
        const verdict = store.get(proof.key);
        return verdict && isRefusal(verdict) ? [{ proof, verdict }] : [];
      });
      const kept = refused.length ? refuse(lib, refused) : lib;
      current = { ...kept, pendingProofs: kept.pendingProofs.filter((p) => !store.get(p.key)) };
      prover.request(current.pendingProofs);
      return current;
    },
    start: (shared) => prover.start(shared),
    pending: () => current?.pendingProofs ?? [],
    readiness() {
      const ids = (current?.pendingProofs ?? []).map((x) => x.patternId);
      return ids.length ? { ok: false, detail: `regex safety proof pending: ${ids.join(', ')}` } : { ok: true };
    },
    close: () => prover.close(),
  };
}
