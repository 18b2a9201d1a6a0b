// The prefilter: one cheap literal scan of the raw bytes decides whether a line is worth
// parsing. Most firewall syslog is flow logs; for them this is the only work done.

export type Prefilter = (bytes: Buffer) => boolean;

/** The literals a prefilter actually scans for: a literal containing another one is redundant. */
export function minimalLiterals(literals: readonly string[]): string[] {
  const unique = [...new Set(literals.filter((l) => l.length > 0))];
  return unique.filter((l) => !unique.some((o) => o !== l && l.includes(o)));
}

/** Longest substring shared by every literal (tiny inputs: a plain search is fine). */
export function commonSubstring(literals: readonly string[]): string {
  const [first, ...rest] = [...literals].sort((a, b) => a.length - b.length);
  if (first === undefined) return '';
  for (let len = first.length; len > 0; len--)
    for (let i = 0; i + len <= first.length; i++) {
      const s = first.slice(i, i + len);
      if (rest.every((l) => l.includes(s))) return s;
    }
  return '';
}

/** Shorter shared parts find too many false candidates to be worth a scan of their own. */
const MIN_GATE_CHARS = 4;

/**
 * Accepts a line when it contains any of `literals`. `Buffer.indexOf` with a Buffer needle is a
 * native search; when the literals share a substring (`VPN_UP_ALARM_USER`, `VPN_DOWN_ALARM_USER`
 * → `_ALARM_USER`), noise pays for one scan of it instead of one scan per literal.
 */
export function createPrefilter(literals: readonly string[]): Prefilter {
  const minimal = minimalLiterals(literals);
  const needles = minimal.map((l) => Buffer.from(l, 'utf8'));
  if (needles.length === 0) return () => false;
  const any = (bytes: Buffer) => {
    for (const n of needles) if (bytes.indexOf(n) >= 0) return true;
    return false;
  };
  if (needles.length === 1) {
    const n = needles[0]!;
    return (bytes) => bytes.indexOf(n) >= 0;
  }
  const shared = commonSubstring(minimal);
  if (shared.length < MIN_GATE_CHARS) return any;
  const gate = Buffer.from(shared, 'utf8');
  return (bytes) => bytes.indexOf(gate) >= 0 && any(bytes);
}
