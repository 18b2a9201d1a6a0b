// Loads the operator pattern library (`patterns/*.yaml`), validates everything, compiles the
// regexes with XRegExp, refuses regexes known to backtrack catastrophically, and runs every
// inline example as a self-test. Named phases, each testable alone: read files → resolve
// sub-patterns → compile patterns → judge safety (stored verdicts only: loading never runs the
// checker, so it is fast and a busy host cannot change its outcome) → self-test → assemble. All problems are reported at once, each with file, line, pattern
// id and field, in one PtimError('PTIM_ERR_PATTERN'). The file format is documented in
// patterns/README.md; keep the two in step.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Document } from 'yaml';
import { z } from 'zod';
import { PtimError, type Problem } from '../errors.js';
import { parseSyslog } from '../syslog/parse.js';
import type { SyslogMessage } from '../types.js';
import { matchMessage, messageTag, tryPattern, type CompiledPattern } from './matcher.js';
import {
  buildRegex,
  compileSubpatterns,
  needlesOf,
  referencedNames,
  runnable,
  type Library,
  type PendingProof,
} from './runnable.js';
import { safetyAdvice } from './regex-safety.js';
import { TRANSFORMS, TRANSFORM_NAMES, type FieldValue } from './transforms.js';
import { createVerdictStore, verdictKey, type VerdictLookup } from './verdicts.js';

export type { Library, PendingProof } from './runnable.js';

export interface ExampleResult {
  readonly patternId: string;
  readonly type: 'example' | 'counterExample';
  readonly file: string;
  readonly line?: number;
  readonly ok: boolean;
  readonly message?: string;
}

export interface LoadReport {
  /** Present only when there are no problems. */
  readonly library?: Library;
  readonly problems: readonly Problem[];
  readonly warnings: readonly Problem[];
  readonly results: readonly ExampleResult[];
  readonly files: readonly string[];
  /** Every regex that compiled, with its verdict key. */
  readonly regexes: readonly PendingProof[];
  /** Those without a stored verdict (also in the library, when it loads). */
  readonly pending: readonly PendingProof[];
}

export interface LoadOptions {
  /** The syslog parser used for examples (the production one by default). */
  readonly parse?: (bytes: Buffer) => SyslogMessage;
  /** Stored safety verdicts (default: the shipped file and a `verdicts.json` in each dir). */
  readonly verdicts?: VerdictLookup;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const SUBPATTERN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const fieldValue = z.union([z.string(), z.array(z.string()), z.null()]);
const exampleSchema = z
  .object({
    line: z.string().min(1),
    /** Expected fields after transforms; `null` = must not be captured. Unlisted fields are not compared. */
    fields: z.record(z.string(), fieldValue).default({}),
    note: z.string().optional(),
  })
  .strict();
const counterSchema = z.union([z.string().min(1), z.object({ line: z.string().min(1), note: z.string().optional() }).strict()]);
const stringList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const patternSchema = z
  .object({
    id: z.string().regex(ID, 'letters, digits, and _ . - (not first)'),
    description: z.string().min(1),
    kind: z.enum(['up', 'down', 'rekey-signal']),
    enabled: z.boolean().default(true),
    verified: z.boolean().default(true),
    tags: stringList,
    match: stringList,
    regex: z.string().min(1).optional(),
    sd: z.record(z.string(), z.string().min(1)).optional(),
    optional: z.array(z.string()).default([]),
    transforms: z.record(z.string(), stringList).default({}),
    examples: z.array(exampleSchema).min(1, 'at least one example is required (examples are the self-test)'),
    counterExamples: z.array(counterSchema).default([]),
  })
  .strict();
const fileSchema = z
  .object({
    subpatterns: z.record(z.string(), z.string().min(1)).default({}),
    patterns: z.array(z.unknown()).default([]),
  })
  .strict();

type PatternDef = z.infer<typeof patternSchema>;
/** Placeholder keeping pattern indexes aligned with the file; never compiled. */
const INVALID = { id: '\u0000invalid' } as PatternDef;

/** One Problem per schema issue, located in the YAML; `prefix` is the path of the validated value. */
function reportIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly (string | number)[],
  raw: unknown,
  file: string,
  doc: Document,
  lc: LineCounter,
  problems: Problem[],
): void {
  for (const issue of issues) {
    const ip = [...prefix, ...issue.path.filter((k): k is string | number => typeof k !== 'symbol')];
    const idx = ip[0] === 'patterns' && typeof ip[1] === 'number' ? ip[1] : undefined;
    const id = idx === undefined ? undefined : patternIdAt(raw, idx);
    const field = idx === undefined ? ip.join('.') : ip.slice(2).join('.');
    const who = idx === undefined ? field : `${id ?? `patterns[${idx}]`}${field ? `.${field}` : ''}`;
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        const pos = locate(doc, lc, ip, k);
        problems.push({ source: file, line: pos?.line, column: pos?.col, path: who ? `${who}.${k}` : k, message: 'unknown key' });
      }
      continue;
    }
    const missing = valueAt(raw, ip) === undefined;
    const pos = locate(doc, lc, ip);
    problems.push({
      source: file,
      line: pos?.line,
      column: pos?.col,
      path: who || undefined,
      message: missing ? 'missing key' : issue.message,
    });
  }
}

function valueAt(raw: unknown, p: readonly (string | number)[]): unknown {
  let v = raw;
  for (const k of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}
const list = (v: string | string[]): string[] => (typeof v === 'string' ? [v] : v);

/** Finds a node's position for a path into the YAML document; falls back to the nearest parent. */
function locate(doc: Document, lc: LineCounter, p: readonly (string | number)[], key?: string) {
  if (key !== undefined) {
    const parent = p.length === 0 ? doc.contents : doc.getIn(p, true);
    if (isMap(parent)) {
      const pair = parent.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === key);
      const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
      if (range) return lc.linePos(range[0]);
    }
  }
  for (let n = p.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(p.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return lc.linePos(range[0]);
  }
  return undefined;
}

export interface ParsedFile {
  readonly file: string;
  readonly doc: Document;
  readonly lc: LineCounter;
  readonly data?: { readonly subpatterns: Record<string, string>; readonly patterns: readonly PatternDef[] };
}

/** Lists `*.yaml` / `*.yml` of each dir, dirs in the given order, files by name within a dir. */
async function listFiles(dirs: readonly string[], problems: Problem[]): Promise<string[]> {
  const files: string[] = [];
  for (const dir of dirs) {
    try {
      const names = (await readdir(dir)).filter((n) => /\.ya?ml$/i.test(n)).sort();
      files.push(...names.map((n) => path.join(dir, n)));
    } catch (e) {
      problems.push({ source: dir, message: `cannot read pattern directory: ${(e as Error).message}` });
    }
  }
  return files;
}

/** Phase 1: YAML and shape, every file; each pattern validated on its own. */
async function readPatternFiles(files: readonly string[], problems: Problem[]): Promise<ParsedFile[]> {
  const parsed: ParsedFile[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      problems.push({ source: file, message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    parsed.push(parsePatternFile(file, text, problems));
  }
  return parsed;
}

/** One file's YAML and shape; a file with errors comes back without `data`. */
export function parsePatternFile(file: string, text: string, problems: Problem[]): ParsedFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const err of doc.errors) {
      const pos = err.linePos?.[0];
      problems.push({ source: file, line: pos?.line, column: pos?.col, message: `YAML: ${err.message.split('\n')[0]}` });
    }
    return { file, doc, lc };
  }
  const raw: unknown = doc.toJS() ?? {};
  const r = fileSchema.safeParse(raw);
  if (!r.success) {
    reportIssues(r.error.issues, [], raw, file, doc, lc, problems);
    return { file, doc, lc };
  }
  // Each pattern is validated on its own, so one broken pattern does not hide the others' problems.
  const patterns = r.data.patterns.map((item, i) => {
    const pr = patternSchema.safeParse(item);
    if (pr.success) return pr.data;
    reportIssues(pr.error.issues, ['patterns', i], raw, file, doc, lc, problems);
    return INVALID;
  });
  return { file, doc, lc, data: { subpatterns: r.data.subpatterns, patterns } };
}

export interface SubpatternDef {
  readonly source: string;
  readonly file: string;
  readonly pf: ParsedFile;
}

/** Sub-patterns, compiled; `defs` holds every validly named one, compiled or not. */
export interface Subpatterns {
  readonly defs: ReadonlyMap<string, SubpatternDef>;
  readonly compiled: Readonly<Record<string, RegExp>>;
}

/** Phase 2a: every sub-pattern definition of every file (names checked, duplicates refused). */
function collectSubpatterns(parsed: readonly ParsedFile[], problems: Problem[]): Map<string, SubpatternDef> {
  const defs = new Map<string, SubpatternDef>();
  for (const pf of parsed) {
    for (const [name, source] of Object.entries(pf.data?.subpatterns ?? {})) {
      const pos = locate(pf.doc, pf.lc, ['subpatterns'], name);
      const where = { source: pf.file, line: pos?.line, path: `subpatterns.${name}` };
      const prev = defs.get(name);
      if (!SUBPATTERN_NAME.test(name)) problems.push({ ...where, message: 'sub-pattern names are letters, digits and _' });
      else if (prev) problems.push({ ...where, message: `duplicate sub-pattern (first defined in ${prev.file})` });
      else defs.set(name, { source, file: pf.file, pf });
    }
  }
  return defs;
}

/** Phase 2b: sub-patterns compiled, resolved recursively (they may use each other). */
export function resolveSubpatterns(parsed: readonly ParsedFile[], problems: Problem[]): Subpatterns {
  const defs = collectSubpatterns(parsed, problems);
  const sources = new Map([...defs].map(([name, d]) => [name, d.source]));
  const compiled = compileSubpatterns(sources, (name, message) => {
    const def = defs.get(name)!;
    const pos = locate(def.pf.doc, def.pf.lc, ['subpatterns', name]);
    if (message) problems.push({ source: def.file, line: pos?.line, path: `subpatterns.${name}`, message });
  });
  return { defs, compiled };
}

/** A pattern that compiled, with where it came from. */
export interface Compiled {
  readonly p: CompiledPattern;
  readonly def: PatternDef;
  readonly pf: ParsedFile;
  readonly index: number;
}

type Locator = (field?: string, key?: string) => Problem;

/** The pattern's regex compiled with its sub-patterns, and the names it captures; problems reported. */
function compileRegex(
  def: PatternDef,
  subs: Subpatterns,
  at: Locator,
  problems: Problem[],
): { regex?: RegExp; fieldNames: string[] } {
  if (def.regex === undefined) return { fieldNames: def.sd ? Object.keys(def.sd) : [] };
  const deps: Record<string, RegExp> = {};
  let refsOk = true;
  for (const name of referencedNames(def.regex)) {
    const s = subs.compiled[name];
    if (!subs.defs.has(name)) problems.push({ ...at('regex'), message: `unknown sub-pattern reference {{${name}}}` });
    if (s) deps[name] = s;
    else refsOk = false; // an unknown name is reported above, a broken sub-pattern where it is defined
  }
  if (!refsOk) return { fieldNames: [] };
  try {
    const regex = buildRegex(def.regex, deps);
    const names = (regex as RegExp & { xregexp?: { captureNames?: (string | null)[] } }).xregexp?.captureNames ?? [];
    return { regex, fieldNames: names.filter((n): n is string => typeof n === 'string') };
  } catch (e) {
    problems.push({ ...at('regex'), message: `regex does not compile: ${(e as Error).message}` });
    return { fieldNames: [] };
  }
}

/** Transforms, optional fields and the warnings of one pattern. */
function checkPatternFields(
  def: PatternDef,
  compiledOk: boolean,
  fieldNames: readonly string[],
  at: Locator,
  problems: Problem[],
  warnings: Problem[],
): void {
  for (const [field, names] of Object.entries(def.transforms)) {
    for (const t of list(names))
      if (!Object.hasOwn(TRANSFORMS, t))
        problems.push({ ...at('transforms', field), message: `unknown transform "${t}" (known: ${TRANSFORM_NAMES.join(', ')})` });
    if (compiledOk && !fieldNames.includes(field))
      problems.push({ ...at('transforms', field), message: `transform for "${field}", which the pattern does not capture` });
  }
  for (const f of def.optional)
    if (!def.sd || !Object.hasOwn(def.sd, f)) problems.push({ ...at('optional'), message: `optional field "${f}" is not in sd` });
  if (!def.verified)
    warnings.push({
      ...at('verified'),
      message: 'unverified pattern: it rests on guesses (e.g. SD parameter names); check it against a real capture',
    });
  if (def.counterExamples.length === 0 && def.enabled) warnings.push({ ...at(), message: 'no counterExamples' });
}

function locator(pf: ParsedFile, index: number, id: string): Locator {
  return (field, key) => {
    const pos =
      field === undefined ? locate(pf.doc, pf.lc, ['patterns', index]) : locate(pf.doc, pf.lc, ['patterns', index, field], key);
    return {
      source: pf.file,
      line: pos?.line,
      column: pos?.col,
      path: `${id}${field ? `.${field}` : ''}${key ? `.${key}` : ''}`,
      message: '',
    };
  };
}

/** Phase 3: patterns — ids, regexes, SD mappings, transforms. Only those without problems come back. */
export function compilePatterns(
  parsed: readonly ParsedFile[],
  subs: Subpatterns,
  problems: Problem[],
  warnings: Problem[],
): Compiled[] {
  const compiled: Compiled[] = [];
  const seen = new Map<string, string>();
  for (const pf of parsed) {
    (pf.data?.patterns ?? []).forEach((def, index) => {
      if (def === INVALID) return;
      const at = locator(pf, index, def.id);
      const before = problems.length;
      const prev = seen.get(def.id);
      if (prev) problems.push({ ...at('id'), message: `duplicate pattern id (first used in ${prev})` });
      else seen.set(def.id, pf.file);
      if ((def.regex === undefined) === (def.sd === undefined))
        problems.push({ ...at(), message: 'a pattern needs exactly one of `regex` or `sd`' });
      const { regex, fieldNames } = compileRegex(def, subs, at, problems);
      checkPatternFields(def, Boolean(regex || def.sd), fieldNames, at, problems, warnings);
      if (problems.length > before) return;
      compiled.push({ def, pf, index, p: toCompiledPattern(def, regex, pf, index) });
    });
  }
  return compiled;
}

function toCompiledPattern(def: PatternDef, regex: RegExp | undefined, pf: ParsedFile, index: number): CompiledPattern {
  const literals = list(def.match);
  return {
    id: def.id,
    description: def.description,
    kind: def.kind,
    tags: list(def.tags),
    literals,
    needles: needlesOf(literals),
    ...(regex ? { regex, regexSource: def.regex } : {}),
    ...(def.sd ? { sd: def.sd } : {}),
    optional: def.optional,
    transforms: Object.fromEntries(Object.entries(def.transforms).map(([k, v]) => [k, list(v)])),
    verified: def.verified,
    enabled: def.enabled,
    file: pf.file,
    line: locate(pf.doc, pf.lc, ['patterns', index])?.line ?? 0,
  };
}

/**
 * Phase 4: regex safety, from stored verdicts only (loading never runs the checker). A regex
 * known to be vulnerable or unreadable is refused; one nobody has proven yet loads, and is
 * listed as pending: the caller proves it (in the background for `serve`, at once for
 * `patterns prove`).
 */
export function judgeSafety(
  compiled: readonly Compiled[],
  verdicts: VerdictLookup,
  problems: Problem[],
): { admitted: Compiled[]; regexes: PendingProof[]; pending: PendingProof[] } {
  const regexes: PendingProof[] = [];
  const pending: PendingProof[] = [];
  const admitted = compiled.filter((c) => {
    const regex = c.p.regex;
    if (!regex) return true;
    const ref = { patternId: c.p.id, key: verdictKey(regex.source, regex.flags), source: regex.source, flags: regex.flags };
    regexes.push({ ...ref, file: c.pf.file, line: c.p.line });
    const v = verdicts.get(ref.key);
    if (v?.status === 'safe') return true;
    if (!v) {
      pending.push({ ...ref, file: c.pf.file, line: c.p.line });
      return true;
    }
    const pos = locate(c.pf.doc, c.pf.lc, ['patterns', c.index, 'regex']);
    problems.push({ source: c.pf.file, line: pos?.line, column: pos?.col, path: `${c.p.id}.regex`, message: safetyAdvice(v) });
    return false;
  });
  return { admitted, regexes, pending };
}

/**
 * Phase 5: self-test. Every example must be matched by its own pattern, first in library order,
 * with the expected fields; no counter-example may match its pattern.
 */
export function selfTest(
  admitted: readonly Compiled[],
  parse: (b: Buffer) => SyslogMessage,
  problems: Problem[],
): ExampleResult[] {
  const results: ExampleResult[] = [];
  const order = admitted.map((c) => c.p);
  const record = (c: Compiled, type: ExampleResult['type'], i: number, message: string | undefined) => {
    const field = type === 'example' ? 'examples' : 'counterExamples';
    const pos = locate(c.pf.doc, c.pf.lc, ['patterns', c.index, field, i]);
    const base = { patternId: c.p.id, type, file: c.pf.file, line: pos?.line };
    results.push(message ? { ...base, ok: false, message } : { ...base, ok: true });
    if (message)
      problems.push({ source: c.pf.file, line: pos?.line, column: pos?.col, path: `${c.p.id}.${field}[${i}]`, message });
  };
  for (const c of admitted) {
    c.def.examples.forEach((ex, i) => record(c, 'example', i, checkExample(c.p, order, ex.line, ex.fields, parse)));
    c.def.counterExamples.forEach((ce, i) => {
      const bytes = Buffer.from(typeof ce === 'string' ? ce : ce.line, 'utf8');
      const r = matchMessage([{ ...c.p, enabled: true }], parse(bytes), bytes);
      record(c, 'counterExample', i, r.matched ? 'counter-example matches this pattern' : undefined);
    });
  }
  return results;
}

/** The runnable library from the admitted patterns, in match order. */
export function assembleLibrary(
  order: readonly CompiledPattern[],
  subs: Subpatterns,
  rest: Pick<Library, 'warnings' | 'files' | 'pendingProofs'>,
): Library {
  return {
    ...runnable(order),
    subpatterns: subs.compiled,
    subpatternSources: Object.fromEntries([...subs.defs].map(([k, v]) => [k, v.source])),
    ...rest,
  };
}

/**
 * The same library without the given patterns (a background proof refused them). Their
 * pending proofs go with them.
 */
export function withoutPatterns(lib: Library, ids: ReadonlySet<string>): Library {
  return {
    ...lib,
    ...runnable(lib.patterns.filter((p) => !ids.has(p.id))),
    pendingProofs: lib.pendingProofs.filter((x) => !ids.has(x.patternId)),
  };
}

export async function inspectLibrary(dirs: readonly string[], opts: LoadOptions = {}): Promise<LoadReport> {
  const parse = opts.parse ?? parseSyslog;
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const files = await listFiles(dirs, problems);
  if (files.length === 0 && problems.length === 0)
    problems.push({ source: dirs.join(', '), message: 'no pattern files (*.yaml) found' });
  const parsed = await readPatternFiles(files, problems);
  const subs = resolveSubpatterns(parsed, problems);
  const compiled = compilePatterns(parsed, subs, problems, warnings);
  const { admitted, regexes, pending } = judgeSafety(compiled, opts.verdicts ?? createVerdictStore({ dirs }), problems);
  const results = selfTest(admitted, parse, problems);
  if (problems.length > 0) return { problems, warnings, results, files, regexes, pending };
  const library = assembleLibrary(
    admitted.map((c) => c.p),
    subs,
    { warnings, files, pendingProofs: pending },
  );
  return { library, problems, warnings, results, files, regexes, pending };
}

function patternIdAt(raw: unknown, idx: number): string | undefined {
  const pats = (raw as { patterns?: unknown } | null)?.patterns;
  const p = Array.isArray(pats) ? (pats[idx] as { id?: unknown } | undefined) : undefined;
  return typeof p?.id === 'string' ? p.id : undefined;
}

/** Undefined when the example passes, else what went wrong. */
function checkExample(
  p: CompiledPattern,
  order: readonly CompiledPattern[],
  line: string,
  expected: Record<string, FieldValue | null>,
  parse: (b: Buffer) => SyslogMessage,
): string | undefined {
  const bytes = Buffer.from(line, 'utf8');
  const msg = parse(bytes);
  const missing = p.literals.filter((l) => !line.includes(l));
  if (missing.length > 0) return `example does not contain the match literal(s) ${missing.map((l) => `"${l}"`).join(', ')}`;
  const tag = messageTag(msg);
  if (!p.tags.includes(tag ?? '')) return `example's tag ${tag ?? '(none)'} is not one of [${p.tags.join(', ')}]`;
  const fields = tryPattern(p, msg);
  if (typeof fields === 'string') return `example does not match: ${fields}`;
  if (p.enabled) {
    const first = matchMessage(order, msg, bytes);
    if (first.matched && first.patternId !== p.id)
      return `example is matched first by the earlier pattern ${first.patternId} (first match wins)`;
  }
  const wrong: string[] = [];
  for (const [k, want] of Object.entries(expected)) {
    const got = Object.hasOwn(fields, k) ? fields[k] : undefined;
    if (want === null ? got !== undefined : !isDeepStrictEqual(got, want))
      wrong.push(`${k}: expected ${JSON.stringify(want)}, got ${got === undefined ? '(none)' : JSON.stringify(got)}`);
  }
  return wrong.length > 0 ? `example fields differ: ${wrong.join('; ')}` : undefined;
}

/** Loads a library or throws PtimError('PTIM_ERR_PATTERN') listing every problem. */
export async function loadLibrary(dirs: readonly string[], opts: LoadOptions = {}): Promise<Library> {
  const report = await inspectLibrary(dirs, opts);
  if (!report.library) {
    const n = report.problems.length;
    throw new PtimError(
      'PTIM_ERR_PATTERN',
      `${n} problem${n === 1 ? '' : 's'} in the pattern library (${dirs.join(', ')})`,
      report.problems,
    );
  }
  return report.library;
}
