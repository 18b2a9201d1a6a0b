// Loads the configuration once: YAML file (optional) with ${ENV} interpolation, then
// PTIM__section__key environment overrides, then one schema validation that reports every
// problem with file:line:column and the dotted path. The result is deeply frozen.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isScalar, isMap, isSeq, type Node } from 'yaml';
import { parse as parseYamlValue } from 'yaml';
import { z } from 'zod';
import { checkFiles, readableFile } from './files.js';
import { configSchema, type Config } from './schema.js';
import { checkUrls } from './urls.js';
import { PtimError, type Problem } from '../errors.js';

export interface LoadOptions {
  /** Config file path; when absent, PTIM_CONFIG is used; when both are absent, defaults + env only. */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  config: Readonly<Config>;
  /** The file that was read, if any. */
  file?: string;
  /** Paths set from the environment (for display: which settings came from env). */
  envPaths: string[];
}

export const ENV_PREFIX = 'PTIM__';

export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  const env = opts.env ?? process.env;
  const file = opts.file ?? (env.PTIM_CONFIG || undefined);
  let text = '';
  if (file) {
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new PtimError('PTIM_ERR_CONFIG_FILE', `cannot read config file ${file}: ${(e as Error).message}`);
    }
  }
  return parseConfigText(text, { file, env, checkFile: readableFile });
}

/** The pure part of loading (no I/O): text + env → config or a PtimError listing every problem. */
export function parseConfigText(
  text: string,
  opts: {
    file?: string;
    env?: NodeJS.ProcessEnv;
    /** Checks a file the configuration names (see files.ts); loadConfig passes the real one. */
    checkFile?: (file: string) => string | undefined;
  } = {},
): LoadedConfig {
  const env = opts.env ?? {};
  const source = opts.file ?? 'config';
  const problems: Problem[] = [];
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });

  const at = (node: Node | undefined | null): { line?: number; column?: number } => {
    const offset = node?.range?.[0];
    if (offset === undefined) return {};
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };

  for (const err of doc.errors) {
    const p = lineCounter.linePos(err.pos[0]);
    problems.push({ source, line: p.line, column: p.col, message: err.message.split('\n')[0] ?? err.message });
  }
  if (problems.length) throw new PtimError('PTIM_ERR_CONFIG_FILE', `${source} is not valid YAML`, problems);

  // ${VAR} / ${VAR:-default} in string scalars: lets secrets come from the environment.
  interpolate(doc.contents as Node | null, env, (node, message) => problems.push({ source, ...at(node), message }));
  let raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problems.push({ source, message: 'the top level must be a mapping of sections (ingest:, jims:, …)' });
    raw = {};
  }

  const envPaths = applyEnvOverrides(raw as Record<string, unknown>, env, problems);
  // Convenience: the variable every Redis-using tool understands.
  if (env.REDIS_URL && !envPaths.includes('redis.url')) {
    const r = ((raw as Record<string, unknown>).redis ??= {}) as Record<string, unknown>;
    r.url = env.REDIS_URL;
    envPaths.push('redis.url');
  }

  // Files and URL schemes: reported here, with their line, together with the schema's problems.
  const located = locator(doc, source, envPaths, at);
  const files = opts.checkFile ? checkFiles(raw as Record<string, unknown>, opts.checkFile) : [];
  for (const f of [...files, ...checkUrls(raw as Record<string, unknown>)]) problems.push(located(f.path, f.message));

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) for (const issue of parsed.error.issues) problems.push(...issueProblems(issue, doc, located, at));
  if (problems.length || !parsed.success) {
    throw new PtimError('PTIM_ERR_CONFIG', `invalid configuration (${problems.length} problem(s))`, problems);
  }
  return { config: deepFreeze(parsed.data), file: opts.file, envPaths };
}

type At = (node: Node | undefined | null) => { line?: number; column?: number };
type Located = (path: readonly PropertyKey[], message: string) => Problem;

/** A problem at a setting: its file line, or `env` when an environment variable set it. */
function locator(doc: ReturnType<typeof parseDocument>, source: string, envPaths: readonly string[], at: At): Located {
  return (path, message) => {
    const dotted = formatPath(path);
    const fromEnv = envPaths.some((p) => dotted === p || dotted.startsWith(`${p}.`) || dotted.startsWith(`${p}[`));
    if (fromEnv) return { source: 'env', path: dotted, message };
    const keys = path.map(String);
    const node = (doc.getIn(keys, true) as Node | undefined) ?? nearestNode(doc, keys);
    return { source, ...at(node), path: dotted, message };
  };
}

/** One schema issue as problems; an unknown key points at the key itself, with its full path. */
function issueProblems(issue: z.core.$ZodIssue, doc: ReturnType<typeof parseDocument>, located: Located, at: At): Problem[] {
  if (issue.code !== 'unrecognized_keys') return [located(issue.path, issue.message)];
  const node = doc.getIn(issue.path.map(String), true) as Node | undefined;
  return issue.keys.map((k) => {
    const pair = isMap(node) ? node.items.find((it) => isScalar(it.key) && it.key.value === k) : undefined;
    const p = located([...issue.path, k], 'unknown setting');
    return p.source === 'env' ? p : { ...p, ...at((pair?.key as Node | undefined) ?? node) };
  });
}

function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s;
}

function nearestNode(doc: ReturnType<typeof parseDocument>, path: string[]): Node | undefined {
  for (let i = path.length - 1; i > 0; i--) {
    const n = doc.getIn(path.slice(0, i), true) as Node | undefined;
    if (n) return n;
  }
  return undefined;
}

const INTERPOLATION = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function interpolate(node: Node | null, env: NodeJS.ProcessEnv, report: (n: Node, msg: string) => void): void {
  if (!node) return;
  if (isScalar(node)) {
    if (typeof node.value !== 'string' || !node.value.includes('${')) return;
    node.value = node.value.replace(INTERPOLATION, (_m, name: string, fallback?: string) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      report(node, `environment variable ${name} is not set (use \${${name}:-default} for a default)`);
      return '';
    });
    return;
  }
  if (isMap(node)) for (const pair of node.items) interpolate(pair.value as Node | null, env, report);
  else if (isSeq(node)) for (const item of node.items) interpolate(item as Node | null, env, report);
}

/**
 * PTIM__JIMS__PRIMARY__CLIENTSECRET=… sets jims.primary.clientSecret. Segments match schema keys
 * case-insensitively (underscores inside a segment are ignored, so PTIM__INGEST__MAX_MESSAGE_BYTES
 * works too); values are read as YAML scalars/flow collections (`true`, `514`, `[a, b]`).
 */
function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, problems: Problem[]): string[] {
  const paths: string[] = [];
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const segments = name.slice(ENV_PREFIX.length).split('__');
    const keys = resolveSchemaPath(segments);
    if (!keys) {
      problems.push({ source: 'env', path: name, message: 'does not name a setting (see the configuration reference)' });
      continue;
    }
    let parsed: unknown;
    try {
      parsed = value === '' ? '' : parseYamlValue(value);
    } catch {
      parsed = value;
    }
    let target = raw;
    for (const k of keys.slice(0, -1)) {
      const next = target[k];
      target = (typeof next === 'object' && next !== null && !Array.isArray(next) ? next : (target[k] = {})) as Record<
        string,
        unknown
      >;
    }
    target[keys[keys.length - 1]!] = parsed;
    paths.push(keys.join('.'));
  }
  return paths;
}

const norm = (s: string) => s.replace(/[_-]/g, '').toLowerCase();

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  let s: z.ZodType = schema;
  for (let i = 0; i < 8; i++) {
    if (s instanceof z.ZodObject) return s.shape as Record<string, z.ZodType>;
    if (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
      s = s.unwrap() as z.ZodType;
      continue;
    }
    return undefined;
  }
  return undefined;
}

function resolveSchemaPath(segments: string[]): string[] | undefined {
  const out: string[] = [];
  let schema: z.ZodType = configSchema;
  for (const seg of segments) {
    const shape = objectShape(schema);
    if (!shape) return undefined;
    const key = Object.keys(shape).find((k) => norm(k) === norm(seg));
    if (!key) return undefined;
    out.push(key);
    schema = shape[key]!;
  }
  return out.length ? out : undefined;
}

function deepFreeze<T>(o: T): Readonly<T> {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}
