// `ptim-bridge check`: every problem of the configuration, the pattern library and the JIMS
// settings in one run, before anything starts. When the configuration itself is invalid, the
// pattern library named by the file (or the default one) is still checked, so an operator
// fixing a deployment sees config and pattern errors together.
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { preflight } from '../app.js';
import { loadConfig } from '../config/load.js';
import { defaultConfig, type Config } from '../config/schema.js';
import { PtimError } from '../errors.js';
import { createLogger } from '../log.js';
import { loadLibrary, type Library } from '../match/library.js';
import { createMetrics } from '../ops/metrics.js';
import { openRedis } from '../redis/connection.js';
import { createQuarantineStore, describeQuarantine, patternKey } from '../threads/quarantine.js';
import { systemClock } from '../types.js';

type Out = NodeJS.WritableStream;

const QUARANTINE_CONNECT_SECS = 2;

/** patterns.dirs as written in the file, if it is a list of strings; else the default. */
async function patternDirsOf(file: string | undefined): Promise<string[]> {
  const fallback = defaultConfig().patterns.dirs;
  if (!file) return fallback;
  try {
    const raw = parseYaml(await readFile(file, 'utf8')) as { patterns?: { dirs?: unknown } } | null;
    const dirs = raw?.patterns?.dirs;
    return Array.isArray(dirs) && dirs.every((d) => typeof d === 'string') ? dirs : fallback;
  } catch {
    return fallback;
  }
}

/**
 * A configuration that does not load still names a pattern library (or uses the default one):
 * check it too, so one run reports both. The configuration error first, then the library's, if any.
 */
export async function withPatternProblems(
  e: PtimError,
  file: string | undefined,
): Promise<{ errors: PtimError[]; patterns?: { count: number; dirs: string[] } }> {
  if (e.code !== 'PTIM_ERR_CONFIG' && e.code !== 'PTIM_ERR_CONFIG_FILE') return { errors: [e] };
  const dirs = await patternDirsOf(file ?? process.env.PTIM_CONFIG);
  try {
    const lib = await loadLibrary(dirs);
    return { errors: [e], patterns: { count: lib.patterns.length, dirs } };
  } catch (p) {
    if (p instanceof PtimError) return { errors: [e, p] };
    throw p;
  }
}

export async function runCheck(file: string | undefined, out: Out, err: Out): Promise<number> {
  let config;
  try {
    config = (await loadConfig({ file })).config;
  } catch (e) {
    if (!(e instanceof PtimError)) throw e;
    const r = await withPatternProblems(e, file);
    for (const x of r.errors) err.write(`${x.report()}\n`);
    if (r.patterns)
      out.write(`patterns: ${r.patterns.count} pattern(s) loaded and self-tested from ${r.patterns.dirs.join(', ')}\n`);
    return 1;
  }
  // Components warn through the logger at start (e.g. JIMS TLS verification off): print those
  // as plain `warning:` lines, next to the checks' own warnings.
  const warnings = new Writable({
    write(line: Buffer, _enc, cb) {
      out.write(`warning: ${(JSON.parse(line.toString()) as { msg: string }).msg}\n`);
      cb();
    },
  });
  const r = await preflight(config, {
    metrics: createMetrics(),
    clock: systemClock,
    logger: createLogger({ level: 'warn' }, warnings),
  });
  await r.jims?.close();
  for (const w of r.warnings) out.write(`warning: ${w}\n`);
  for (const e of r.errors) err.write(`${e.report()}\n`);
  if (r.errors.length) return 1;
  out.write(
    `OK: configuration valid; ${r.library?.patterns.length ?? 0} pattern(s) loaded and self-tested; roles ${config.roles.join(', ')}\n`,
  );
  if (r.library) for (const line of await quarantineLines(config, r.library)) out.write(`${line}\n`);
  return 0;
}

/** Patterns quarantined at run time (stored in Redis by any replica); a note if Redis is not reachable. */
async function quarantineLines(config: Config, library: Library): Promise<string[]> {
  let redis: Awaited<ReturnType<typeof openRedis>> | undefined;
  try {
    redis = await openRedis({ ...config.redis, connectTimeoutSecs: QUARANTINE_CONNECT_SECS }, 'command');
    const entries = await createQuarantineStore(redis, config.redis.keyPrefix).list();
    return describeQuarantine(entries, new Set(library.patterns.map(patternKey)));
  } catch (e) {
    return [`note: pattern quarantine not read: ${(e as Error).message}`];
  } finally {
    redis?.disconnect();
  }
}
