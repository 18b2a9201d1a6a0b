// `explain` support: what happened to one line at every stage, for operators proving or fixing
// a pattern. Pure; the stages themselves are the pipeline's (`explainLine` in pipeline.ts runs
// them and hands their results here). The step-by-step regex diagnosis re-runs prefixes of the
// closest candidate's regex (one per source line) to show how far the line got — only here,
// never on the hot path.
import XRegExp from 'xregexp';
import type { NormalizeResult } from '../identity/normalize.js';
import type { RawMessage, SyslogMessage } from '../types.js';
import type { Library } from './library.js';
import { messageTag, type CompiledPattern, type MatchResult, type MissCode } from './matcher.js';
import type { Fields } from './transforms.js';

export interface Explanation {
  readonly prefilter: 'candidate' | 'skipped';
  readonly envelope: { format: string; hostname?: string; appName?: string; tag?: string; hasText: boolean; sdIds: string[] };
  readonly matched?: { patternId: string; kind: string; file: string; line: number; verified: boolean; fields: Fields };
  readonly miss?: { candidate?: string; file?: string; line?: number; code: MissCode; reason: string; detail?: string };
  readonly result?: NormalizeResult;
}

const REF = /\{\{([A-Za-z0-9_$]+)\}\}/g;

/** Inlines sub-pattern sources (diagnosis only: lets a failure be pinned inside a shared body). */
function inline(source: string, subs: Readonly<Record<string, string>>, depth = 0): string {
  if (depth > 8) return source;
  return source.replace(REF, (m, name: string) =>
    Object.hasOwn(subs, name) ? `\n${inline(subs[name]!, subs, depth + 1)}\n` : m,
  );
}

/** How far a regex candidate got through the text: the first regex line it could not pass. */
export function diagnoseRegex(lib: Library, p: CompiledPattern, text: string): string | undefined {
  if (!p.regexSource) return undefined;
  const lines = inline(p.regexSource, lib.subpatternSources).split('\n');
  const isCode = (l: string) => l.replace(/(^|[^\\])#.*$/, '$1').trim() !== '';
  for (let k = lines.length - 1; k >= 1; k--) {
    if (!isCode(lines[k - 1]!)) continue;
    let re: RegExp;
    try {
      re = XRegExp(lines.slice(0, k).join('\n'), 'x');
    } catch {
      continue; // this prefix cuts a group in two
    }
    const m = XRegExp.exec(text, re);
    if (!m) continue;
    const next = lines.slice(k).find(isCode)?.trim() ?? '(end)';
    const end = m.index + m[0].length;
    const rest = text.slice(end, end + 60);
    return `the text matches the regex up to \`${lines[k - 1]!.trim()}\`, then fails at \`${next}\`; text there: ${JSON.stringify(rest)}${text.length > end + 60 ? '…' : ''}`;
  }
  return 'the text fails at the start of the regex';
}

function envelope(msg: SyslogMessage): Explanation['envelope'] {
  return {
    format: msg.format,
    ...(msg.hostname !== undefined ? { hostname: msg.hostname } : {}),
    ...(msg.appName !== undefined ? { appName: msg.appName } : {}),
    ...(messageTag(msg) !== undefined ? { tag: messageTag(msg) } : {}),
    hasText: msg.text.trim() !== '',
    sdIds: msg.structuredData.map((e) => e.id),
  };
}

/** What happened to one line, from what the pipeline's own stages made of it (`runStages`). */
export function explainStages(
  lib: Library,
  raw: RawMessage,
  staged: { readonly msg: SyslogMessage; readonly match: MatchResult; readonly normalized?: NormalizeResult },
): Explanation {
  const { msg, match: m } = staged;
  const prefilter = lib.prefilter(raw.bytes) ? 'candidate' : 'skipped';
  const env = envelope(msg);
  if (!m.matched) {
    const c = m.candidate;
    const detail = c && m.code === 'regex_no_match' ? diagnoseRegex(lib, c, msg.text) : undefined;
    return {
      prefilter,
      envelope: env,
      miss: {
        ...(c ? { candidate: c.id, file: c.file, line: c.line } : {}),
        code: m.code,
        reason: m.reason,
        ...(detail ? { detail } : {}),
      },
    };
  }
  const p = m.pattern;
  return {
    prefilter,
    envelope: env,
    matched: { patternId: p.id, kind: p.kind, file: p.file, line: p.line, verified: p.verified, fields: m.fields },
    ...(staged.normalized ? { result: staged.normalized } : {}),
  };
}
