// The library as the matcher thread runs it: quarantined patterns disabled, and every regex
// pattern reporting its index to the heartbeat when the matcher fetches its regex to run it (so a
// runaway can be blamed on one pattern without changing the pure matcher).
import type { Library } from '../match/library.js';
import type { CompiledPattern } from '../match/matcher.js';
import type { Heartbeat } from './heartbeat.js';
import { patternKey } from './quarantine.js';

export interface PatternSummary {
  readonly id: string;
  readonly enabled: boolean;
  /** Quarantine key: id plus regex hash. */
  readonly key: string;
  readonly quarantined: boolean;
}

/** What crosses back to the main thread about a loaded library (compiled regexes cannot). */
export interface LibrarySummary {
  readonly patterns: readonly PatternSummary[];
  readonly literals: readonly string[];
  readonly warnings: Library['warnings'];
}

export function summarize(lib: Library, quarantined: ReadonlySet<string>): LibrarySummary {
  return {
    patterns: lib.patterns.map((p) => {
      const key = patternKey(p);
      return { id: p.id, enabled: p.enabled, key, quarantined: quarantined.has(key) };
    }),
    literals: lib.literals,
    warnings: lib.warnings,
  };
}

export function watchedLibrary(lib: Library, quarantined: ReadonlySet<string>, heartbeat: Heartbeat): Library {
  const patterns = lib.patterns.map((p, index): CompiledPattern => {
    const off = quarantined.has(patternKey(p));
    const copy: CompiledPattern = { ...p, enabled: p.enabled && !off };
    if (!p.regex) return copy;
    const regex = p.regex;
    return Object.defineProperty(copy, 'regex', {
      enumerable: true,
      get() {
        heartbeat.pattern(index);
        return regex;
      },
    });
  });
  return { ...lib, patterns };
}
