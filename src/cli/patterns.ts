// `ptim-bridge patterns test`, `explain` and `prove`: the operator's tools to prove a pattern
// library before it runs. They write to `out` and return an exit code; main.ts wires
// them to the command line.
import { writeFile } from 'node:fs/promises';
import { defaultConfig, type IdentityConfig, type RedisConfig } from '../config/schema.js';
import { formatProblem, PtimError, type Problem } from '../errors.js';
import type { Frame } from '../ingest/framing.js';
import { inputFrames, type FramingSettings } from '../ingest/frame-input.js';

import { createCheckerProcess } from '../match/checker.js';
import type { Explanation } from '../match/explain.js';
import { inspectLibrary, type Library, type PendingProof } from '../match/library.js';
import { verdictStoreFor } from '../match/proofs.js';
import { PROOF_TIMEOUT_MS, proveRegex, safetyAdvice, type RecheckRun, type Verdict } from '../match/regex-safety.js';
import { redisVerdicts } from '../match/verdict-redis.js';
import { CHECKER_ID, formatVerdictFile, type StoredVerdict, type VerdictLookup } from '../match/verdicts.js';
import type { FieldValue } from '../match/transforms.js';
import { explainLine } from '../pipeline.js';
import { openRedis } from '../redis/connection.js';
import type { RawMessage } from '../types.js';

type Out = NodeJS.WritableStream;
const say = (out: Out, s = '') => out.write(`${s}\n`);
const rel = (f: string) => f.replace(`${process.cwd()}/`, '');

function printProblems(out: Out, title: string, problems: readonly Problem[]): void {
  if (problems.length === 0) return;
  say(out, title);
  for (const p of problems) say(out, `  - ${formatProblem({ ...p, ...(p.source ? { source: rel(p.source) } : {}) })}`);
}

/** Runs every example and counter-example; 0 when the library loads and all pass, else 1. */
export async function runPatternsTest(dirs: readonly string[], out: Out): Promise<number> {
  const r = await inspectLibrary(dirs, { verdicts: verdictStoreFor({ dirs, verdictCacheFile: null }) });
  const byPattern = new Map<string, { ok: number; failed: number }>();
  for (const x of r.results) {
    const s = byPattern.get(x.patternId) ?? { ok: 0, failed: 0 };
    if (x.ok) s.ok++;
    else s.failed++;
    byPattern.set(x.patternId, s);
  }
  say(out, `Pattern files: ${r.files.map(rel).join(', ') || '(none)'}`);
  for (const p of r.library?.patterns ?? []) {
    const s = byPattern.get(p.id) ?? { ok: 0, failed: 0 };
    const flags = [p.enabled ? '' : 'disabled', p.verified ? '' : 'UNVERIFIED'].filter(Boolean).join(', ');
    say(out, `  ok  ${p.id.padEnd(28)} ${p.kind.padEnd(13)} ${s.ok} example(s)${flags ? `  [${flags}]` : ''}`);
  }
  printProblems(out, 'Warnings:', r.warnings);
  printProblems(
    out,
    'Regex safety proof pending (the pattern runs meanwhile; prove it now: ptim-bridge patterns prove):',
    r.pending.map(pendingProblem),
  );
  printProblems(out, `${PtimError.name} PTIM_ERR_PATTERN — problems:`, r.problems);
  const passed = r.results.filter((x) => x.ok).length;
  const failed = r.results.length - passed;
  say(
    out,
    `${r.problems.length === 0 ? 'PASS' : 'FAIL'}: ${r.library?.patterns.length ?? 0} pattern(s) loaded, ` +
      `${passed} example(s)/counter-example(s) passed, ${failed} failed, ${r.problems.length} problem(s)`,
  );
  return r.problems.length === 0 ? 0 : 1;
}

const pendingProblem = (p: PendingProof): Problem => ({
  source: p.file,
  line: p.line,
  path: p.patternId,
  message: 'proof pending',
});

const showValue = (v: FieldValue) => (typeof v === 'string' ? JSON.stringify(v) : `[${v.join(', ')}]`);

function printExplanation(out: Out, n: number, frame: Frame, x: Explanation): void {
  const text = frame.bytes.toString('latin1');
  say(out, `message ${n}: ${text.length > 140 ? `${text.slice(0, 140)}…` : text}`);
  if (frame.continuations > 0)
    say(
      out,
      `  framing:   ${frame.continuations + 1} LF-separated pieces joined (a binary IKE-ID held 0x0A), as the bridge does`,
    );
  if (frame.truncated) say(out, '  framing:   cut at ingest.maxMessageBytes, as the bridge does');
  const e = x.envelope;
  say(
    out,
    `  envelope:  ${e.format} host=${e.hostname ?? '-'} app=${e.appName ?? '-'} tag=${e.tag ?? '-'}` +
      `${e.sdIds.length ? ` sd=[${e.sdIds.join(', ')}]` : ''}${e.hasText ? '' : ' (no text)'}`,
  );
  say(
    out,
    `  prefilter: ${x.prefilter}${x.prefilter === 'skipped' ? ' (no match literal in the line: production skips it)' : ''}`,
  );
  if (x.miss) {
    say(
      out,
      x.miss.candidate
        ? `  no match;  closest candidate: ${x.miss.candidate} (${rel(x.miss.file ?? '')}:${x.miss.line}): ${x.miss.reason}`
        : `  no match:  ${x.miss.reason}`,
    );
    if (x.miss.detail) say(out, `             ${x.miss.detail}`);
    return;
  }
  const m = x.matched!;
  say(out, `  matched:   ${m.patternId} (${rel(m.file)}:${m.line}) kind=${m.kind}`);
  if (!m.verified) say(out, '             UNVERIFIED pattern: it rests on guesses (e.g. SD parameter names); check these fields');
  say(
    out,
    `  fields:    ${Object.entries(m.fields)
      .map(([k, v]) => `${k}=${showValue(v)}`)
      .join(' ')}`,
  );
  const r = x.result!;
  if (r.type === 'ignored') say(out, `  ignored:   ${r.reason} (${r.detail})`);
  else {
    const ev = r.event;
    say(
      out,
      `  event:     ${ev.kind} user=${JSON.stringify(ev.user)} domain=${JSON.stringify(ev.domain)} ips=[${ev.ips.join(', ')}] ` +
        `firewall=${ev.firewall}${ev.vpn ? ` vpn=${ev.vpn}` : ''}${ev.reason ? ` reason=${JSON.stringify(ev.reason)}` : ''}`,
    );
  }
}

/**
 * Explains each message of the input, framed as the TCP receiver frames it: prefilter, envelope,
 * the matching pattern (or the closest candidate and why it failed) with its captured fields, and
 * the normalized event or the ignored reason. Returns 0 after explaining every message, 1 when
 * the library does not load.
 */
export async function runPatternsExplain(
  dirs: readonly string[],
  identityCfg: IdentityConfig,
  input: NodeJS.ReadableStream | string[],
  out: Out,
  opts: { json?: boolean; maxFieldBytes?: number; framing?: FramingSettings } = {},
): Promise<number> {
  const r = await inspectLibrary(dirs);
  if (!r.library) {
    printProblems(out, 'PTIM_ERR_PATTERN: the pattern library does not load:', r.problems);
    return 1;
  }
  const lib: Library = r.library;
  if (!opts.json)
    for (const w of r.warnings.filter((w) => /unverified/i.test(w.message)))
      say(out, `note: ${formatProblem({ ...w, source: rel(w.source ?? '') })}`);
  const framing = opts.framing ?? defaultConfig().ingest;
  const read = Array.isArray(input)
    ? { wire: true, frames: input.map((l): Frame => ({ bytes: Buffer.from(l, 'utf8'), truncated: false, continuations: 0 })) }
    : await inputFrames(input, framing);
  if (!read.wire && !opts.json)
    say(out, 'note: the input has no <PRI> (a log file copy): explained line by line; the bridge receives <PRI> lines');
  const frames = read.frames;
  let n = 0;
  for await (const frame of frames) {
    const { bytes, truncated } = frame;
    n++;
    if (bytes.length === 0) continue;
    const raw: RawMessage = {
      bytes,
      transport: 'udp',
      sourceIp: '127.0.0.1',
      sourcePort: 0,
      receivedAt: Date.now(),
      truncated,
    };
    const x = explainLine(lib, identityCfg, raw, { maxFieldBytes: opts.maxFieldBytes });
    if (opts.json)
      say(out, JSON.stringify({ line: n, text: bytes.toString('latin1'), continuations: frame.continuations, ...x }));
    else {
      printExplanation(out, n, frame, x);
      say(out);
    }
  }
  return 0;
}

export interface ProveOptions {
  /** Write the verdicts of every regex of the library to this file (e.g. the shipped `patterns/verdicts.json`). */
  readonly write?: string;
  /** Prove every regex again, ignoring stored verdicts. */
  readonly again?: boolean;
  /** patterns.verdictCacheFile (null: the default location). */
  readonly verdictCacheFile?: string | null;
  /** Budget of one proof (default PROOF_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /** Also publish the verdicts to this Redis (the deployment's), where every replica finds them. */
  /** The deployment's `redis.*` settings (any topology: the bridge's own connection factory). */
  readonly share?: RedisConfig;
}

/**
 * Proves, now, every regex of the library that has no stored verdict (all with `again`), one at
 * a time in one checker process, and stores the verdicts in the cache file (and `write`).
 * 0 when every regex has a verdict and none is refused, else 1.
 */
export async function runPatternsProve(dirs: readonly string[], out: Out, opts: ProveOptions = {}): Promise<number> {
  const store = verdictStoreFor({ dirs, verdictCacheFile: opts.verdictCacheFile ?? null });
  const r = await inspectLibrary(dirs, { verdicts: opts.again ? { get: () => undefined } : store });
  const todo = [...new Map((opts.again ? r.regexes : r.pending).map((x) => [x.key, x])).values()];
  say(out, `${r.regexes.length} regex(es) in ${dirs.join(', ')}; ${todo.length} to prove (${CHECKER_ID})`);
  let failed = 0;
  if (!opts.again)
    for (const x of r.regexes) {
      const v = store.get(x.key);
      if (v && v.status !== 'safe') {
        failed++;
        say(out, `  REFUSED   ${x.patternId} (${rel(x.file)}:${x.line}), stored verdict: ${safetyAdvice(v)}`);
      }
    }
  const shared = opts.share ? await connectShared(opts.share, out) : undefined;
  const verdicts = new Map<string, StoredVerdict>();
  const checker = createCheckerProcess();
  try {
    for (const x of todo) {
      const v = await proveOne(x, checker.run, opts.timeoutMs ?? PROOF_TIMEOUT_MS, out);
      if (!v || v.status !== 'safe') failed++;
      if (!v) continue;
      await store.put(x.key, v, x.patternId);
      await shared?.verdicts.put(x.key, v);
      verdicts.set(x.key, { ...v, pattern: x.patternId });
    }
  } finally {
    checker.close();
    shared?.redis.disconnect();
  }
  if (opts.write) failed += await writeVerdicts(opts.write, r.regexes, store, verdicts, out);
  say(out, failed ? `FAIL: ${failed} regex(es) refused or undecided` : 'PASS: every regex has a verdict; none refused');
  return failed ? 1 : 0;
}

/** Proves one regex, saying how it went; undefined when it did not finish. */
async function proveOne(x: PendingProof, run: RecheckRun, timeoutMs: number, out: Out): Promise<Verdict | undefined> {
  const started = performance.now();
  const v = await proveRegex(x.source, x.flags, run, { timeoutMs });
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  const where = `${x.patternId} (${rel(x.file)}:${x.line})`;
  if (v.status === 'undecided') {
    say(out, `  undecided ${where}: ${v.reason} after ${secs} s; run again on a quieter host`);
    return undefined;
  }
  say(out, v.status === 'safe' ? `  safe      ${where} in ${secs} s` : `  REFUSED   ${where} in ${secs} s: ${safetyAdvice(v)}`);
  return v;
}

/** The deployment's Redis, to publish verdicts to every replica; undefined (said) when it does not answer. */
async function connectShared(share: NonNullable<ProveOptions['share']>, out: Out) {
  try {
    const redis = await openRedis(share, 'command');
    return { redis, verdicts: redisVerdicts(redis, share.keyPrefix) };
  } catch (e) {
    say(out, `note: verdicts are not shared: ${(e as Error).message}`);
    return undefined;
  }
}

/** Writes the verdict file of exactly these regexes; counts those without a verdict. */
async function writeVerdicts(
  file: string,
  regexes: readonly PendingProof[],
  store: VerdictLookup,
  fresh: ReadonlyMap<string, StoredVerdict>,
  out: Out,
): Promise<number> {
  const all = new Map<string, StoredVerdict>();
  let missing = 0;
  for (const x of regexes) {
    const v = fresh.get(x.key) ?? store.get(x.key);
    if (v) all.set(x.key, { ...v, pattern: x.patternId });
    else missing++;
  }
  await writeFile(file, formatVerdictFile(all, VERDICT_FILE_ABOUT));
  say(out, `wrote ${all.size} verdict(s) to ${rel(file)}${missing ? `; ${missing} regex(es) without a verdict left out` : ''}`);
  return missing;
}

const VERDICT_FILE_ABOUT =
  'Regex safety verdicts of this pattern library, keyed by a hash of (compiled source, flags, checker). ' +
  'Generated by `ptim-bridge patterns prove --write`; do not edit.';
