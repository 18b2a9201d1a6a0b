// Name patterns for operator settings (`identity.excludeGateways`, `sessions --user`): `*` matches
// any run of characters, `?` exactly one, everything else itself. Matched by a linear-time
// wildcard scan rather than a compiled regex, so no pattern an operator writes can backtrack.

export interface Glob {
  readonly source: string;
  /** True when the whole of `text` matches. */
  test(text: string): boolean;
}

/** Whole-string wildcard match, O(|text|·|pattern|) at worst (the classic greedy star scan). */
function wildcard(pattern: string, text: string, fold: boolean): boolean {
  const p = fold ? pattern.toLowerCase() : pattern;
  const t = fold ? text.toLowerCase() : text;
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === t[ti])) {
      pi++;
      ti++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = ti;
    } else if (star >= 0) {
      pi = star + 1;
      ti = ++mark;
    } else return false;
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/** A pattern without `*`/`?` is a plain name (compared exactly, or case-folded with `ignoreCase`). */
export function compileGlob(source: string, opts: { ignoreCase?: boolean } = {}): Glob {
  const fold = opts.ignoreCase ?? false;
  if (!/[*?]/.test(source)) {
    const want = fold ? source.toLowerCase() : source;
    return { source, test: (text) => (fold ? text.toLowerCase() : text) === want };
  }
  return { source, test: (text) => wildcard(source, text, fold) };
}
