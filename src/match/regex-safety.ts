// ReDoS guard for operator-written regexes: the method that proves one compiled regex safe or
// refuses it. A regex that can backtrack catastrophically (exponential or polynomial) on a
// hostile or unlucky line would stall matching, so it is refused.
//
// Two checks, because one is not enough: recheck's exact (automaton) checker cannot read
// look-arounds or back-references, which every shipped pattern uses, so on a whole pattern it
// falls back to fuzzing — and fuzzing can miss an ambiguous group buried in a long regex (e.g.
// `(?:[^ ]+)+` inside a label chain). So in addition every unboundedly repeated group is checked
// on its own, exactly, as `^(?:group)$` with look-arounds removed and back-references widened to
// the group they refer to (that only widens what it matches, so it cannot hide an ambiguity).
//
// A verdict depends on the regex alone. Running out of time (a busy host) or a checker that
// crashed is not a verdict: the result is `undecided`, and the caller retries later. Proving is
// slow (seconds per regex), so verdicts are stored by key (verdicts.ts) and this runs only for
// regexes nobody has proven yet, in one checker process (checker.ts).
import type { Diagnostics, Parameters } from 'recheck';

/** What a regex is, for good: stored, shipped, shared between replicas. */
export type Verdict =
  | { readonly status: 'safe' }
  | { readonly status: 'vulnerable'; readonly complexity: string; readonly attack?: string; readonly hotspot?: string }
  /** recheck cannot read this regex (unsupported or invalid syntax): refused, it can never be proven. */
  | { readonly status: 'unsupported'; readonly reason: string };

/** A proof that did not finish (timeout, checker failure): not a verdict, retried later. */
export interface Undecided {
  readonly status: 'undecided';
  readonly reason: string;
}
export type ProofResult = Verdict | Undecided;

/**
 * Bump when anything below changes what a verdict means (the checks, their parameters, the
 * widening): every stored verdict's key includes it, so all of them are proven again.
 */
export const METHOD_VERSION = 2;

/** Runs one recheck analysis; checker.ts provides the one that runs in the checker process. */
export type RecheckRun = (source: string, flags: string, params: Parameters) => Promise<Diagnostics>;

export interface ProveOptions {
  /** Budget of the whole-regex check; a retry may give more. */
  readonly timeoutMs: number;
}

/** Default budget of the whole-regex check (a group check gets a sixth of it). */
export const PROOF_TIMEOUT_MS = 30_000;

/**
 * recheck's fuzzer stops its phases on wall-clock timeouts by default, so on a busy machine the
 * same regex could be judged differently from one run to the next (we saw a linear regex
 * reported polynomial under load). With the phase timeouts off, the phases are bounded by step
 * counts and the seeded fuzzer is deterministic; only the overall timeout remains, and running
 * into it is `undecided`, never a verdict.
 */
const deterministic = (timeoutMs: number): Parameters => ({
  timeout: timeoutMs,
  incubationTimeout: null,
  attackTimeout: null,
  seedingTimeout: null,
  recallTimeout: -1,
});

function toResult(d: Diagnostics, source: string): ProofResult {
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
  if (e.kind === 'unsupported' || e.kind === 'invalid') return { status: 'unsupported', reason: `${e.kind}: ${e.message}` };
  if (e.kind === 'timeout') return { status: 'undecided', reason: 'analysis timed out' };
  return { status: 'undecided', reason: 'message' in e ? `${e.kind}: ${e.message}` : e.kind };
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

interface GroupSpan {
  /** Index of `(`. */
  readonly start: number;
  /** Index of the matching `)`. */
  readonly end: number;
}

/** Every group of `src`, with where it starts and ends, in order of their `(`. */
function groupSpans(src: string): GroupSpan[] {
  const open: number[] = [];
  const spans: GroupSpan[] = [];
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') i++;
    else if (c === '[') i = classEnd(src, i);
    else if (c === '(') open.push(i);
    else if (c === ')') {
      const start = open.pop();
      if (start !== undefined) spans.push({ start, end: i });
    }
  }
  return spans.sort((a, b) => a.start - b.start);
}

/** Every group of `src` followed by an unbounded quantifier, with the quantifier (e.g. `(?:[^ ]+)+`). */
export function repeatedGroups(src: string): string[] {
  return groupSpans(src)
    .sort((a, b) => a.end - b.end)
    .flatMap(({ start, end }) => {
      const q = unboundedQuantifierAt(src, end + 1);
      return q ? [src.slice(start, end + 1 + q)] : [];
    });
}

/** The capturing groups of `src` (`(…)` and `(?<name>…)`), numbered as the regex numbers them. */
function capturingGroups(src: string): { span: GroupSpan; name?: string; body: string }[] {
  return groupSpans(src).flatMap((span) => {
    const head = src.slice(span.start, span.start + 3);
    const named = /^\(\?<([A-Za-z_$][\w$]*)>/.exec(src.slice(span.start));
    if (head[1] === '?' && !named) return [];
    const open = named ? named[0].length : 1;
    return [{ span, ...(named ? { name: named[1] } : {}), body: src.slice(span.start + open, span.end) }];
  });
}

/** Index of the `)` closing the group that opens at `i` (or the end of `src`). */
function closingParen(src: string, i: number): number {
  let depth = 0;
  let j = i;
  for (; j < src.length; j++) {
    if (src[j] === '\\') j++;
    else if (src[j] === '[') j = classEnd(src, j);
    else if (src[j] === '(') depth++;
    else if (src[j] === ')' && --depth === 0) break;
  }
  return j;
}

/** What a back-reference is widened to when the group it names cannot be used. */
const ANYTHING = String.raw`[\s\S]*`;

/**
 * Removes look-arounds and widens back-references, so recheck's exact checker can read the
 * rest. The result matches a superset of what the input matches: a back-reference matches
 * the text its group captured, so it becomes that group's body (itself widened), or
 * `[\s\S]*` when the group is unknown or refers to itself. `context` is the whole regex the
 * fragment `src` comes from: a back-reference in a group may name a group outside it.
 */
export function withoutLookarounds(src: string, context: string = src, inside: readonly string[] = []): string {
  const groups = capturingGroups(context);
  const widen = (ref: string): string => {
    const m = /^\\k<([^>]*)>$/.exec(ref);
    const g = m ? groups.find((x) => x.name === m[1]) : groups[Number(ref.slice(1)) - 1];
    if (!g || inside.includes(g.body)) return ANYTHING;
    return `(?:${withoutLookarounds(g.body, context, [...inside, g.body])})`;
  };
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\') {
      const ref = /^\\(?:k<[^>]*>|[1-9]\d*)/.exec(src.slice(i))?.[0];
      if (ref) {
        out += widen(ref);
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
      i = closingParen(src, i);
    } else out += c;
  }
  return out;
}

/** Repeated groups longer than this are left to the whole-regex check (the exact checker would be slow). */
const MAX_GROUP_CHARS = 2000;

/**
 * The exact check of each repeated group, one after the other: the first vulnerable one, an
 * undecided result when a group's check did not finish, or undefined when none is ambiguous.
 * A group recheck cannot read is left to the whole-regex check.
 */
async function checkRepeatedGroups(
  source: string,
  flags: string,
  run: RecheckRun,
  timeoutMs: number,
): Promise<ProofResult | undefined> {
  for (const g of repeatedGroups(source).filter((x) => x.length <= MAX_GROUP_CHARS)) {
    const d = await run(`^(?:${withoutLookarounds(g, source)})$`, flags, { checker: 'automaton', timeout: timeoutMs });
    const r = toResult(d, g);
    if (r.status === 'vulnerable') return { ...r, hotspot: g };
    if (r.status === 'undecided') return r;
  }
  return undefined;
}

/**
 * Proves one native regex source (what XRegExp compiled). Never rejects: a failing checker is
 * `undecided`. The exact group checks are fast and decisive; the slower whole-regex check runs
 * only after them.
 */
export async function proveRegex(source: string, flags: string, run: RecheckRun, opts: ProveOptions): Promise<ProofResult> {
  try {
    const exactFlags = flags.replace(/[gy]/g, '');
    const group = await checkRepeatedGroups(source, exactFlags, run, Math.max(1000, Math.floor(opts.timeoutMs / 6)));
    if (group) return group;
    return toResult(await run(source, flags, deterministic(opts.timeoutMs)), source);
  } catch (e) {
    return { status: 'undecided', reason: `checker failed: ${(e as Error).message ?? String(e)}` };
  }
}

/** One-line advice for a refused regex, shown to the operator next to the problem. */
export function safetyAdvice(v: Verdict): string {
  if (v.status === 'vulnerable')
    return (
      `regex can backtrack catastrophically (${v.complexity}${v.hotspot ? `, near \`${v.hotspot}\`` : ''}); ` +
      'do not repeat a group whose body can match the same text in several ways (`(?:[^ ]+)+` → `[^ ]+`); ' +
      'anchor it with ^…$, and instead of lazy `.*?` between labels use a tempered token such as ' +
      '`(?:[^,]|,(?!\\ next\\ label:))*` or a class that cannot contain the separator (`[^,]*`)'
    );
  if (v.status === 'unsupported')
    return `regex safety cannot be proven (${v.reason}); simplify it (fewer nested quantifiers, no backreferences) so the checker can decide`;
  return 'safe';
}
