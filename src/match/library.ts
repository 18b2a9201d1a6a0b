// Loads the operator pattern library (`patterns/*.yaml`), validates everything, compiles the
// regexes with XRegExp, refuses regexes that can backtrack catastrophically, and runs every
// inline example as a self-test. All problems are reported at once, each with file, line, pattern
// id and field, in one PtimError('PTIM_ERR_PATTERN'). The file format is documented in
// patterns/README.md; keep the two in step.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import XRegExp from 'xregexp';
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Document } from 'yaml';
import { z } from 'zod';
import { PtimError, type Problem } from '../errors.js';
import { parseSyslog } from '../syslog/parse.js';
import type { SyslogMessage } from '../types.js';
import { matchMessage, messageTag, tryPattern, type CompiledPattern } from './matcher.js';
import { createPrefilter, minimalLiterals, type Prefilter } from './prefilter.js';
import { checkRegexSafety, safetyAdvice } from './regex-safety.js';
import { TRANSFORMS, TRANSFORM_NAMES, type FieldValue } from './transforms.js';

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
}

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
}

export interface LoadOptions {
  /** The syslog parser used for examples (the production one by default). */
  readonly parse?: (bytes: Buffer) => SyslogMessage;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const SUBPATTERN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REF = /\{\{([A-Za-z0-9_$]+)\}\}/g;

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

interface ParsedFile {
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

export async function inspectLibrary(dirs: readonly string[], opts: LoadOptions = {}): Promise<LoadReport> {
  const parse = opts.parse ?? parseSyslog;
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const results: ExampleResult[] = [];
  const files = await listFiles(dirs, problems);
  if (files.length === 0 && problems.length === 0)
    problems.push({ source: dirs.join(', '), message: 'no pattern files (*.yaml) found' });

  // 1. YAML and shape.
  const parsed: ParsedFile[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      problems.push({ source: file, message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const pos = err.linePos?.[0];
        problems.push({ source: file, line: pos?.line, column: pos?.col, message: `YAML: ${err.message.split('\n')[0]}` });
      }
      parsed.push({ file, doc, lc });
      continue;
    }
    const raw: unknown = doc.toJS() ?? {};
    const r = fileSchema.safeParse(raw);
    if (!r.success) {
      reportIssues(r.error.issues, [], raw, file, doc, lc, problems);
      parsed.push({ file, doc, lc });
      continue;
    }
    // Each pattern is validated on its own, so one broken pattern does not hide the others' problems.
    const patterns: PatternDef[] = [];
    r.data.patterns.forEach((item, i) => {
      const pr = patternSchema.safeParse(item);
      if (pr.success) patterns.push(pr.data);
      else {
        reportIssues(pr.error.issues, ['patterns', i], raw, file, doc, lc, problems);
        patterns.push(INVALID);
      }
    });
    parsed.push({ file, doc, lc, data: { subpatterns: r.data.subpatterns, patterns } });
  }

  // 2. Sub-patterns: collected from every file, resolved recursively (they may use each other).
  const subDefs = new Map<string, { source: string; file: string; pf: ParsedFile }>();
  for (const pf of parsed) {
    for (const [name, source] of Object.entries(pf.data?.subpatterns ?? {})) {
      const pos = locate(pf.doc, pf.lc, ['subpatterns'], name);
      if (!SUBPATTERN_NAME.test(name)) {
        problems.push({
          source: pf.file,
          line: pos?.line,
          path: `subpatterns.${name}`,
          message: 'sub-pattern names are letters, digits and _',
        });
        continue;
      }
      const prev = subDefs.get(name);
      if (prev) {
        problems.push({
          source: pf.file,
          line: pos?.line,
          path: `subpatterns.${name}`,
          message: `duplicate sub-pattern (first defined in ${prev.file})`,
        });
        continue;
      }
      subDefs.set(name, { source, file: pf.file, pf });
    }
  }
  const subs: Record<string, RegExp> = {};
  const failedSubs = new Set<string>();
  const resolveSub = (name: string, stack: string[]): RegExp | undefined => {
    if (subs[name]) return subs[name];
    if (failedSubs.has(name)) return undefined;
    const def = subDefs.get(name);
    if (!def) return undefined;
    const pos = locate(def.pf.doc, def.pf.lc, ['subpatterns', name]);
    const where = { source: def.file, line: pos?.line, path: `subpatterns.${name}` };
    if (stack.includes(name)) {
      problems.push({ ...where, message: `sub-pattern refers to itself: ${[...stack, name].join(' → ')}` });
      failedSubs.add(name);
      return undefined;
    }
    const deps: Record<string, RegExp> = {};
    for (const m of def.source.matchAll(REF)) {
      const dep = m[1]!;
      if (!subDefs.has(dep)) {
        problems.push({ ...where, message: `unknown sub-pattern reference {{${dep}}}` });
        failedSubs.add(name);
        return undefined;
      }
      const d = resolveSub(dep, [...stack, name]);
      if (!d) {
        failedSubs.add(name);
        return undefined;
      }
      deps[dep] = d;
    }
    try {
      subs[name] = XRegExp.build(def.source, deps, 'x');
      return subs[name];
    } catch (e) {
      problems.push({ ...where, message: `sub-pattern does not compile: ${(e as Error).message}` });
      failedSubs.add(name);
      return undefined;
    }
  };
  for (const name of subDefs.keys()) resolveSub(name, []);

  // 3. Patterns: ids, regexes, SD mappings, transforms.
  const compiled: { p: CompiledPattern; def: PatternDef; pf: ParsedFile; index: number }[] = [];
  const seen = new Map<string, string>();
  for (const pf of parsed) {
    (pf.data?.patterns ?? []).forEach((def, index) => {
      if (def === INVALID) return;
      const at = (field?: string, key?: string) => {
        const pos =
          field === undefined
            ? locate(pf.doc, pf.lc, ['patterns', index])
            : locate(pf.doc, pf.lc, ['patterns', index, field], key);
        return {
          source: pf.file,
          line: pos?.line,
          column: pos?.col,
          path: `${def.id}${field ? `.${field}` : ''}${key ? `.${key}` : ''}`,
        };
      };
      const before = problems.length;
      const prev = seen.get(def.id);
      if (prev) problems.push({ ...at('id'), message: `duplicate pattern id (first used in ${prev})` });
      else seen.set(def.id, pf.file);

      if ((def.regex === undefined) === (def.sd === undefined))
        problems.push({ ...at(), message: 'a pattern needs exactly one of `regex` or `sd`' });

      let regex: RegExp | undefined;
      let fieldNames: string[] = [];
      if (def.regex !== undefined) {
        const deps: Record<string, RegExp> = {};
        let refsOk = true;
        for (const m of def.regex.matchAll(REF)) {
          const name = m[1]!;
          if (!subDefs.has(name)) {
            problems.push({ ...at('regex'), message: `unknown sub-pattern reference {{${name}}}` });
            refsOk = false;
          } else {
            const s = subs[name];
            if (s) deps[name] = s;
            else refsOk = false; // its own problem is already reported
          }
        }
        if (refsOk) {
          try {
            regex = XRegExp.build(def.regex, deps, 'x');
            fieldNames = (
              (regex as RegExp & { xregexp?: { captureNames?: (string | null)[] } }).xregexp?.captureNames ?? []
            ).filter((n): n is string => typeof n === 'string');
          } catch (e) {
            problems.push({ ...at('regex'), message: `regex does not compile: ${(e as Error).message}` });
          }
        }
      }
      if (def.sd !== undefined) fieldNames = Object.keys(def.sd);

      for (const [field, names] of Object.entries(def.transforms)) {
        for (const t of list(names))
          if (!Object.hasOwn(TRANSFORMS, t))
            problems.push({
              ...at('transforms', field),
              message: `unknown transform "${t}" (known: ${TRANSFORM_NAMES.join(', ')})`,
            });
        if ((regex || def.sd) && !fieldNames.includes(field))
          problems.push({ ...at('transforms', field), message: `transform for "${field}", which the pattern does not capture` });
      }
      for (const f of def.optional)
        if (!def.sd || !Object.hasOwn(def.sd, f))
          problems.push({ ...at('optional'), message: `optional field "${f}" is not in sd` });

      if (!def.verified)
        warnings.push({
          ...at('verified'),
          message: 'unverified pattern: it rests on guesses (e.g. SD parameter names); check it against a real capture',
        });
      if (def.counterExamples.length === 0 && def.enabled) warnings.push({ ...at(), message: 'no counterExamples' });

      if (problems.length > before) return;
      const literals = list(def.match);
      compiled.push({
        def,
        pf,
        index,
        p: {
          id: def.id,
          description: def.description,
          kind: def.kind,
          tags: list(def.tags),
          literals,
          needles: literals.map((l) => Buffer.from(l, 'utf8')),
          ...(regex ? { regex, regexSource: def.regex } : {}),
          ...(def.sd ? { sd: def.sd } : {}),
          optional: def.optional,
          transforms: Object.fromEntries(Object.entries(def.transforms).map(([k, v]) => [k, list(v)])),
          verified: def.verified,
          enabled: def.enabled,
          file: pf.file,
          line: locate(pf.doc, pf.lc, ['patterns', index])?.line ?? 0,
        },
      });
    });
  }

  // 4. Regex safety, all checks at once (recheck is slow; results are cached by source).
  const verdicts = await Promise.all(
    compiled.map((c) => (c.p.regex ? checkRegexSafety(c.p.regex.source, c.p.regex.flags) : undefined)),
  );
  const safe = compiled.filter((c, i) => {
    const v = verdicts[i];
    if (!v || v.status === 'safe') return true;
    const pos = locate(c.pf.doc, c.pf.lc, ['patterns', c.index, 'regex']);
    problems.push({ source: c.pf.file, line: pos?.line, column: pos?.col, path: `${c.p.id}.regex`, message: safetyAdvice(v) });
    return false;
  });

  // 5. Self-test: every example must be matched by its own pattern, first in library order, with
  //    the expected fields; no counter-example may match its pattern.
  const order = safe.map((c) => c.p);
  for (const c of safe) {
    c.def.examples.forEach((ex, i) => {
      const pos = locate(c.pf.doc, c.pf.lc, ['patterns', c.index, 'examples', i]);
      const base = { patternId: c.p.id, type: 'example' as const, file: c.pf.file, line: pos?.line };
      const message = checkExample(c.p, order, ex.line, ex.fields, parse);
      results.push(message ? { ...base, ok: false, message } : { ...base, ok: true });
      if (message)
        problems.push({ source: c.pf.file, line: pos?.line, column: pos?.col, path: `${c.p.id}.examples[${i}]`, message });
    });
    c.def.counterExamples.forEach((ce, i) => {
      const line = typeof ce === 'string' ? ce : ce.line;
      const pos = locate(c.pf.doc, c.pf.lc, ['patterns', c.index, 'counterExamples', i]);
      const base = { patternId: c.p.id, type: 'counterExample' as const, file: c.pf.file, line: pos?.line };
      const bytes = Buffer.from(line, 'utf8');
      const r = matchMessage([{ ...c.p, enabled: true }], parse(bytes), bytes);
      const message = r.matched ? 'counter-example matches this pattern' : undefined;
      results.push(message ? { ...base, ok: false, message } : { ...base, ok: true });
      if (message)
        problems.push({ source: c.pf.file, line: pos?.line, column: pos?.col, path: `${c.p.id}.counterExamples[${i}]`, message });
    });
  }

  if (problems.length > 0) return { problems, warnings, results, files };
  const enabledLiterals = order.filter((p) => p.enabled).flatMap((p) => p.literals);
  const library: Library = {
    patterns: order,
    prefilter: createPrefilter(enabledLiterals),
    literals: minimalLiterals(enabledLiterals),
    subpatterns: subs,
    subpatternSources: Object.fromEntries([...subDefs].map(([k, v]) => [k, v.source])),
    warnings,
    files,
  };
  return { library, problems, warnings, results, files };
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
