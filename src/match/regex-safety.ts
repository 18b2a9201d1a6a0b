// ReDoS guard for operator-written regexes: every compiled pattern is checked with recheck
// before a library may run. A regex that can backtrack catastrophically (exponential or
// polynomial) on a hostile or unlucky line would stall the single ingest thread, so it is refused.
//
// Two checks, because one is not enough: recheck's exact (automaton) checker cannot read
// look-arounds or back-references, which every shipped pattern uses, so on a whole pattern it
// falls back to fuzzing — and fuzzing can miss an ambiguous group buried in a long regex (e.g.
// `(?:[^ ]+)+` inside a label chain). So in addition every unboundedly repeated group is checked
// on its own, exactly, as `^(?:group)$` with look-arounds and back-references removed (that only
// widens what it matches, so it cannot hide an ambiguity).
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
  return {
    status: 'unknown',
    reason: 'message' in e ? `${e.kind}: ${e.message}` : e.kind === 'timeout' ? 'analysis timed out' : e.kind,
  };
}

/** Index of the `]` closing the character class that opens at `i`. */
function classEnd(src: string, i: number): number {
  let j = i + 1;
  if (src[j] === '^') j++;
  if (src[j] === ']') j++;
  while (j < src.length && src[j] !== ']') j += src[j] === '\\' ? 2 : 1;
  return j;
}

/** Length of an unbounded quantifier (`*`, `+`, `{n,}`, with a lazy `?`) at `j`, else 0. */
function unboundedQuantifierAt(src: string, j: number): number {
  const c = src[j];
  let len = 0;
  if (c === '*' || c === '+') len = 1;
  else if (c === '{') len = /^\{\d+,\}/.exec(src.slice(j))?.[0].length ?? 0;
  return len && src[j + len] === '?' ? len + 1 : len;
}

/** Every group of `src` followed by an unbounded quantifier, with the quantifier (e.g. `(?:[^ ]+)+`). */
export function repeatedGroups(src: string): string[] {
  const open: number[] = [];
  const out: string[] = [];
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') i++;
    else if (c === '[') i = classEnd(src, i);
    else if (c === '(') open.push(i);
    else if (c === ')') {
      const start = open.pop();
      const q = unboundedQuantifierAt(src, i + 1);
      if (start !== undefined && q) out.push(src.slice(start, i + 1 + q));
    }
  }
  return out;
}

/**
 * Removes look-arounds and turns back-references into empty groups, so recheck's exact checker
 * can read the rest. The result matches a superset of what the input matches.
 */
export function withoutLookarounds(src: string): string {
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\') {
      const named = /^\\k<[^>]*>/.exec(src.slice(i));
      const numbered = /^\\[1-9]\d*/.exec(src.slice(i));
      const ref = named?.[0] ?? numbered?.[0];
      if (ref) {
        out += '(?:)';
        i += ref.length - 1;
      } else {
        out += src.slice(i, i + 2);
        i++;
      }
    } else if (c === '[') {
      const j = classEnd(src, i);
      out += src.slice(i, j + 1);
      i = j;
    } else if (c === '(' && /^\(\?<?[=!]/.test(src.slice(i))) {
      let depth = 0;
      let j = i;
      for (; j < src.length; j++) {
        if (src[j] === '\\') j++;
        else if (src[j] === '[') j = classEnd(src, j);
        else if (src[j] === '(') depth++;
        else if (src[j] === ')' && --depth === 0) break;
      }
      i = j;
    } else out += c;
  }
  return out;
}

/** Repeated groups longer than this are left to the whole-regex check (the exact checker would be slow). */
const MAX_GROUP_CHARS = 2000;

/** The exact check of each repeated group; the first vulnerable one, or undefined. */
async function firstAmbiguousGroup(source: string, flags: string): Promise<SafetyVerdict | undefined> {
  const groups = repeatedGroups(source).filter((g) => g.length <= MAX_GROUP_CHARS);
  const verdicts = await Promise.all(
    groups.map((g) =>
      check(`^(?:${withoutLookarounds(g)})$`, flags, { checker: 'automaton', timeout: 5000 }).catch(() => undefined),
    ),
  );
  const i = verdicts.findIndex((d) => d?.status === 'vulnerable');
  const d = verdicts[i];
  if (!d || d.status !== 'vulnerable') return undefined;
  return { status: 'vulnerable', complexity: d.complexity.summary, attack: d.attack.pattern, hotspot: groups[i] };
}

/** Checks one native regex source (what XRegExp compiled), cached. Never rejects. */
export function checkRegexSafety(source: string, flags: string): Promise<SafetyVerdict> {
  const key = `${flags}/${source}`;
  let p = cache.get(key);
  if (!p) {
    const exactFlags = flags.replace(/[gy]/g, '');
    // The exact group check is fast and decisive; the slower whole-regex check runs only after it.
    p = firstAmbiguousGroup(source, exactFlags)
      .then(async (group) => group ?? toVerdict(await check(source, flags, DETERMINISTIC), source))
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
      'do not repeat a group whose body can match the same text in several ways (`(?:[^ ]+)+` → `[^ ]+`); ' +
      'anchor it with ^…$, and instead of lazy `.*?` between labels use a tempered token such as ' +
      '`(?:[^,]|,(?!\\ next\\ label:))*` or a class that cannot contain the separator (`[^,]*`)'
    );
  if (v.status === 'unknown')
    return `regex safety could not be proven (${v.reason}); simplify it (fewer nested quantifiers, no backreferences) so the checker can decide`;
  return 'safe';
}
