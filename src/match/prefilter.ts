// The prefilter: one cheap literal scan of the raw bytes decides whether a line is worth
// parsing. Most firewall syslog is flow logs; for them this is the only work done.

export type Prefilter = (bytes: Buffer) => boolean;

/**
 * Accepts a line when it contains any of `literals`. A literal that contains another one is
 * redundant (the shorter one already fires) and is dropped, so noise pays for as few scans
 * as possible; `Buffer.indexOf` with a Buffer needle is a native memmem.
 */
export function createPrefilter(literals: readonly string[]): Prefilter {
  const needles = minimalLiterals(literals).map((l) => Buffer.from(l, 'utf8'));
  if (needles.length === 0) return () => false;
  if (needles.length === 1) {
    const n = needles[0]!;
    return (bytes) => bytes.indexOf(n) >= 0;
  }
  return (bytes) => {
    for (const n of needles) if (bytes.indexOf(n) >= 0) return true;
    return false;
  };
}

/** The literals a prefilter built from `literals` actually scans for (shown by `explain`). */
export function minimalLiterals(literals: readonly string[]): string[] {
  const unique = [...new Set(literals.filter((l) => l.length > 0))];
  return unique.filter((l) => !unique.some((o) => o !== l && l.includes(o)));
}
