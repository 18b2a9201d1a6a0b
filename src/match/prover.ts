// The background prover: takes the regexes a library loaded without a verdict and proves them,
// one at a time, in the one checker process. A regex found in the shared store (Redis) is not
// proven again. A proof that does not finish (busy host, crashed checker) is retried later with
// a growing delay and a growing time budget; it never becomes a refusal. Each verdict is stored
// (cache file, Redis) and reported to `onVerdict`.
import { retryDelayMs, type BackoffPolicy } from '../queue/backoff.js';
import type { CheckerProcess } from './checker.js';
import type { PendingProof } from './library.js';
import { PROOF_TIMEOUT_MS, proveRegex, type ProofResult, type RecheckRun, type Verdict } from './regex-safety.js';
import type { SharedVerdicts } from './verdict-redis.js';
import type { VerdictStore } from './verdicts.js';

export interface ProverOptions {
  readonly store: VerdictStore;
  readonly checker: Pick<CheckerProcess, 'run' | 'close'>;
  readonly onVerdict: (proof: PendingProof, verdict: Verdict) => void;
  /** A proof that did not finish: why, and when it is tried again. */
  readonly onRetry?: (proof: PendingProof, reason: string, retryInMs: number) => void;
  /** Told whenever the number of pending proofs changes. */
  readonly onPendingChange?: (pending: number) => void;
  readonly retry?: BackoffPolicy;
  /** The first attempt's budget; each retry doubles it, up to 8×. */
  readonly timeoutMs?: number;
  readonly random?: () => number;
}

export interface Prover {
  /** Queues proofs (a key already queued is not queued twice). Work starts once `start` was called. */
  request(proofs: readonly PendingProof[]): void;
  /** Starts proving, consulting `shared` (Redis) before proving anything. */
  start(shared?: SharedVerdicts): void;
  /** Distinct regexes still awaiting a verdict. */
  pending(): number;
  close(): void;
}

interface Entry {
  readonly proofs: PendingProof[];
  attempt: number;
}

/**
 * The verdict of one regex: stored here, else shared by another replica, else proven now (and
 * then stored and shared).
 */
async function findOrProve(
  proof: PendingProof,
  ctx: { store: VerdictStore; shared?: SharedVerdicts; run: RecheckRun; timeoutMs: number },
): Promise<ProofResult> {
  const stored = ctx.store.get(proof.key);
  if (stored) return stored;
  const shared = await ctx.shared?.get(proof.key);
  const verdict = shared ?? (await proveRegex(proof.source, proof.flags, ctx.run, { timeoutMs: ctx.timeoutMs }));
  if (verdict.status === 'undecided') return verdict;
  if (!shared) await ctx.shared?.put(proof.key, verdict);
  await ctx.store.put(proof.key, verdict, proof.patternId);
  return verdict;
}

/** Adds proofs to the entries by regex key (a pattern once per key); returns the keys that are new. */
function addProofs(entries: Map<string, Entry>, proofs: readonly PendingProof[]): string[] {
  const added: string[] = [];
  for (const p of proofs) {
    const entry = entries.get(p.key);
    if (entry) {
      if (!entry.proofs.some((q) => q.patternId === p.patternId && q.file === p.file)) entry.proofs.push(p);
      continue;
    }
    entries.set(p.key, { proofs: [p], attempt: 0 });
    added.push(p.key);
  }
  return added;
}

const RETRY: BackoffPolicy = { baseDelayMs: 5_000, maxDelayMs: 10 * 60_000 };

export function createProver(opts: ProverOptions): Prover {
  const retry = opts.retry ?? RETRY;
  const random = opts.random ?? Math.random;
  const timeoutMs = opts.timeoutMs ?? PROOF_TIMEOUT_MS;
  const entries = new Map<string, Entry>();
  const ready: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let shared: SharedVerdicts | undefined;
  let started = false;
  let busy = false;
  let closed = false;

  const changed = () => opts.onPendingChange?.(entries.size);
  /** Queues `key` again after `delayMs` (a retry). */
  const later = (key: string, delayMs: number) => {
    const t = setTimeout(() => {
      timers.delete(t);
      ready.push(key);
      void pump();
    }, delayMs);
    t.unref();
    timers.add(t);
  };

  async function settle(key: string, entry: Entry): Promise<void> {
    const first = entry.proofs[0]!;
    const budget = timeoutMs * 2 ** Math.min(entry.attempt, 3);
    // A failure to read or store a verdict (Redis, the cache file) is retried like an unfinished proof.
    const verdict = await findOrProve(first, { store: opts.store, shared, run: opts.checker.run, timeoutMs: budget }).catch(
      (e: unknown): ProofResult => ({ status: 'undecided', reason: `verdict store failed: ${String(e)}` }),
    );
    if (closed) return;
    if (verdict.status === 'undecided') {
      entry.attempt++;
      const delay = retry.baseDelayMs + retryDelayMs(entry.attempt, retry, random);
      later(key, delay);
      for (const p of entry.proofs) opts.onRetry?.(p, verdict.reason, delay);
      return;
    }
    entries.delete(key);
    changed();
    for (const p of entry.proofs) opts.onVerdict(p, verdict);
  }

  async function pump(): Promise<void> {
    if (busy || !started || closed) return;
    busy = true;
    try {
      for (let key = ready.shift(); key !== undefined && !closed; key = ready.shift()) {
        const entry = entries.get(key);
        // A throwing callback must not stop the queue (its owner logs its own failures).
        if (entry) await settle(key, entry).catch(() => undefined);
      }
    } finally {
      busy = false;
    }
  }

  return {
    request(proofs) {
      ready.push(...addProofs(entries, proofs));
      changed();
      void pump();
    },
    start(s) {
      shared = s;
      started = true;
      void pump();
    },
    pending: () => entries.size,
    close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      opts.checker.close();
    },
  };
}
