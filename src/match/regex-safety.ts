// ReDoS guard for operator-written regexes: every compiled pattern is checked with recheck
// before a library may run. A regex that can backtrack catastrophically (exponential or
// polynomial) on a hostile or unlucky line would stall the single ingest thread, so it is refused.
//
// recheck takes tens to thousands of milliseconds per regex, so results are cached by
// (source, flags) for the life of the process (reloads re-check only what changed) and the
// checks of one load run concurrently.
import { check, type Diagnostics } from 'recheck';

export type SafetyVerdict =
  | { readonly status: 'safe' }
  | { readonly status: 'vulnerable'; readonly complexity: string; readonly attack?: string; readonly hotspot?: string }
  /**
   * recheck could not decide (timeout, unsupported syntax). Policy: refuse, with advice —
   * a regex nobody can prove linear is exactly the kind that bites at 3 a.m.
   */
  | { readonly status: 'unknown'; readonly reason: string };

/** Time budget for one recheck run; beyond it the verdict is `unknown` (and thus refused). */
export const SAFETY_TIMEOUT_MS = 30_000;

/**
 * recheck's fuzzer stops its phases on wall-clock timeouts by default, so on a busy machine the
 * same regex could be judged differently from one load to the next (we saw a linear regex
 * reported polynomial under load). With the phase timeouts off, the phases are bounded by step
 * counts and the seeded fuzzer is deterministic; only the overall timeout remains.
 */
const DETERMINISTIC = {
  timeout: SAFETY_TIMEOUT_MS,
  incubationTimeout: null,
  attackTimeout: null,
  seedingTimeout: null,
  recallTimeout: -1,
} as const;

const cache = new Map<string, Promise<SafetyVerdict>>();


function toVerdict(d: Diagnostics, source: string): SafetyVerdict {
  if (d.status === 'safe') return { status: 'safe' };
  if (d.status === 'vulnerable') {
    const hot = d.hotspot[0];
    return {
      status: 'vulnerable',
      complexity: d.complexity.summary,
      attack: d.attack.pattern,
      ...(hot ? { hotspot: source.slice(hot.start, hot.end) } : {}),
    };
  }
  const e = d.error;
  return { status: 'unknown', reason: 'message' in e ? `${e.kind}: ${e.message}` : e.kind === 'timeout' ? 'analysis timed out' : e.kind };
}

/** Checks one native regex source (what XRegExp compiled), cached. Never rejects. */
export function checkRegexSafety(source: string, flags: string): Promise<SafetyVerdict> {
  const key = `${flags}/${source}`;
  let p = cache.get(key);
  if (!p) {
    p = check(source, flags, DETERMINISTIC)
      .then((d) => toVerdict(d, source))
      .catch((e: unknown): SafetyVerdict => ({ status: 'unknown', reason: `checker failed: ${String(e)}` }));
    cache.set(key, p);
  }
  return p;
}

/** One-line advice for a refused regex, shown to the operator next to the problem. */
export function safetyAdvice(v: SafetyVerdict): string {
  if (v.status === 'vulnerable')
    return (
      `regex can backtrack catastrophically (${v.complexity}${v.hotspot ? `, near \`${v.hotspot}\`` : ''}); ` +
      'anchor it with ^…$, and instead of lazy `.*?` between labels use a tempered token such as ' +
      '`(?:[^,]|,(?!\\ next\\ label:))*` or a class that cannot contain the separator (`[^,]*`)'
    );
  if (v.status === 'unknown')
    return `regex safety could not be proven (${v.reason}); simplify it (fewer nested quantifiers, no backreferences) so the checker can decide`;
  return 'safe';
}
