// The library as it runs: compiled regexes, needles and the prefilter. Built by the loader
// (library.ts) from checked pattern files, and by the matcher thread from a LibrarySpec: the plain
// value the main thread sends it (a compiled regex cannot cross a thread boundary). So the matcher
// thread neither reads, parses, validates nor self-tests pattern files (no YAML, no zod, no second
// load at start-up or on a reload): it compiles what the main thread checked, the same way.
import XRegExp from 'xregexp';
import type { Problem } from '../errors.js';
import type { CompiledPattern } from './matcher.js';
import { createPrefilter, minimalLiterals, type Prefilter } from './prefilter.js';

export interface Library {
  /** Every pattern in match order (file-name order, then file order), enabled or not. */
  readonly patterns: readonly CompiledPattern[];
  readonly prefilter: Prefilter;
  /** The literals the prefilter scans for. */
  readonly literals: readonly string[];
  /** Compiled shared sub-patterns. */
  readonly subpatterns: Readonly<Record<string, RegExp>>;
  /** Sub-pattern sources as written, for `explain`'s step-by-step diagnosis. */
  readonly subpatternSources: Readonly<Record<string, string>>;
  /** Non-fatal findings (unverified patterns, patterns without counter-examples…). */
  readonly warnings: readonly Problem[];
  readonly files: readonly string[];
  /** Regexes loaded without a stored verdict: active, proven in the background (see verdicts.ts). */
  readonly pendingProofs: readonly PendingProof[];
}

/** A compiled regex (in `pendingProofs`: one nobody has proven yet), and where its pattern is. */
export interface PendingProof {
  readonly patternId: string;
  /** Its verdict key (verdicts.ts). */
  readonly key: string;
  readonly source: string;
  readonly flags: string;
  readonly file: string;
  readonly line: number;
}

/** `{{name}}`: a reference to a sub-pattern. */
export const REF = /\{\{([A-Za-z0-9_$]+)\}\}/g;

/** The sub-pattern names a source refers to, in order of appearance. */
export const referencedNames = (source: string): string[] => [...source.matchAll(REF)].map((m) => m[1]!);

/** A pattern's or sub-pattern's regex (free-spacing) with the compiled sub-patterns it refers to. */
export const buildRegex = (source: string, deps: Readonly<Record<string, RegExp>>): RegExp => XRegExp.build(source, deps, 'x');

/** Why a sub-pattern cannot be compiled; `message` is undefined when one it refers to cannot be (reported there). */
type SubpatternFailure = (name: string, message?: string) => void;

/**
 * Sub-patterns compiled, each with those it refers to (recursively). One that refers to itself, to
 * an unknown name or to one that fails, or does not compile, is left out and reported to `fail`.
 */
export function compileSubpatterns(sources: ReadonlyMap<string, string>, fail: SubpatternFailure): Record<string, RegExp> {
  const subs: Record<string, RegExp> = {};
  const failed = new Set<string>();
  const refuse = (name: string, message?: string): undefined => {
    fail(name, message);
    failed.add(name);
    return undefined;
  };
  const resolve = (name: string, stack: readonly string[]): RegExp | undefined => {
    if (subs[name]) return subs[name];
    const source = sources.get(name);
    if (failed.has(name) || source === undefined) return undefined;
    if (stack.includes(name)) return refuse(name, `sub-pattern refers to itself: ${[...stack, name].join(' → ')}`);
    const deps: Record<string, RegExp> = {};
    for (const dep of referencedNames(source)) {
      if (!sources.has(dep)) return refuse(name, `unknown sub-pattern reference {{${dep}}}`);
      const d = resolve(dep, [...stack, name]);
      if (!d) return refuse(name);
      deps[dep] = d;
    }
    try {
      return (subs[name] = buildRegex(source, deps));
    } catch (e) {
      return refuse(name, `sub-pattern does not compile: ${(e as Error).message}`);
    }
  };
  for (const name of sources.keys()) resolve(name, []);
  return subs;
}

/** The needles the matcher scans raw bytes for. */
export const needlesOf = (literals: readonly string[]): Buffer[] => literals.map((l) => Buffer.from(l, 'utf8'));

/** The patterns in match order with the prefilter of the enabled ones' literals. */
export function runnable(order: readonly CompiledPattern[]): Pick<Library, 'patterns' | 'prefilter' | 'literals'> {
  const enabledLiterals = order.filter((p) => p.enabled).flatMap((p) => p.literals);
  return { patterns: order, prefilter: createPrefilter(enabledLiterals), literals: minimalLiterals(enabledLiterals) };
}

/** A pattern as it crosses to the matcher thread: its regex as written, not compiled. */
export type PatternSpec = Omit<CompiledPattern, 'regex' | 'needles'>;

/** A loaded library as a plain (structured-clone) value. */
export interface LibrarySpec extends Pick<Library, 'subpatternSources' | 'warnings' | 'files' | 'pendingProofs'> {
  readonly patterns: readonly PatternSpec[];
}

export function librarySpec(lib: Library): LibrarySpec {
  const patterns = lib.patterns.map((p): PatternSpec => {
    const { regex: _regex, needles: _needles, ...rest } = p;
    return rest;
  });
  const { subpatternSources, warnings, files, pendingProofs } = lib;
  return { patterns, subpatternSources, warnings, files, pendingProofs };
}

/**
 * The runnable library of a spec the main thread checked. Its regexes compiled there, so they
 * compile here; one that does not anyway throws.
 */
export function libraryFromSpec(spec: LibrarySpec): Library {
  const subpatterns = compileSubpatterns(new Map(Object.entries(spec.subpatternSources)), (name, message) => {
    if (message) throw new Error(`sub-pattern ${name}: ${message}`);
  });
  const patterns = spec.patterns.map((p): CompiledPattern => {
    const needles = needlesOf(p.literals);
    if (p.regexSource === undefined) return { ...p, needles };
    const deps = Object.fromEntries(referencedNames(p.regexSource).map((n) => [n, subpatterns[n]!]));
    return { ...p, needles, regex: buildRegex(p.regexSource, deps) };
  });
  const { subpatternSources, warnings, files, pendingProofs } = spec;
  return { ...runnable(patterns), subpatterns, subpatternSources, warnings, files, pendingProofs };
}
