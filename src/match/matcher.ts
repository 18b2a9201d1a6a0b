// The matcher: one parsed syslog message against the library's patterns, in order, first match
// wins. On a miss it names the closest candidate and why it failed, so operators can fix a
// pattern from one `explain` run. Pure: no clock, no I/O, never throws on input.
import XRegExp from 'xregexp';
import type { SyslogMessage, VpnEventKind } from '../types.js';
import { applyTransforms, type FieldValue, type Fields } from './transforms.js';

export interface CompiledPattern {
  readonly id: string;
  readonly description: string;
  readonly kind: VpnEventKind;
  /** Junos tags (msgIds) the pattern applies to. */
  readonly tags: readonly string[];
  /** Literals that must all occur in the raw bytes before the pattern is tried. */
  readonly literals: readonly string[];
  readonly needles: readonly Buffer[];
  /** Compiled regex (XRegExp, free-spacing) applied to the message text. */
  readonly regex?: RegExp;
  /** The regex as written, for `explain`. */
  readonly regexSource?: string;
  /** Structured-data-only (`brief`) pattern: field → SD param name. */
  readonly sd?: Readonly<Record<string, string>>;
  /** SD fields that may be absent. */
  readonly optional: readonly string[];
  readonly transforms: Readonly<Record<string, readonly string[]>>;
  /** False when the pattern rests on guesses (e.g. SD param names); `explain` says so. */
  readonly verified: boolean;
  readonly enabled: boolean;
  readonly file: string;
  readonly line: number;
}

export interface Match {
  readonly matched: true;
  readonly patternId: string;
  readonly kind: VpnEventKind;
  readonly fields: Fields;
  readonly pattern: CompiledPattern;
}

/** Why a line did not match, as a code tools can act on; `message` says it to an operator. */
export type MissCode =
  | 'no_candidate' // no pattern has all its `match` literals in the line
  | 'tag_mismatch' // literals fit, the message's tag is not one of the pattern's
  | 'regex_no_match'
  | 'regex_error'
  | 'sd_text_present' // an SD-only (`brief`) pattern, but the line has text
  | 'sd_missing' // no junos@… structured-data element
  | 'sd_param_missing'
  | 'no_rule'; // neither regex nor sd (a library bug)

export interface MissReason {
  readonly code: MissCode;
  readonly message: string;
}

export interface Miss {
  readonly matched: false;
  /** Closest candidate: the first pattern whose tag and literals matched, else whose literals did. */
  readonly candidate?: CompiledPattern;
  readonly code: MissCode;
  /** `code` in words, for logs and `explain`. */
  readonly reason: string;
}

export type MatchResult = Match | Miss;

/** The Junos tag of a message, without an explicit-priority `%FAC-N-` prefix. */
export function messageTag(msg: SyslogMessage): string | undefined {
  const id = msg.msgId;
  if (id === undefined) return undefined;
  return id.charCodeAt(0) === 0x25 ? id.replace(/^%[A-Z0-9]+-\d-/, '') : id;
}

/** Junos structured data carries SD-IDs like `junos@2636.1.1.1.2.129`; the suffix varies. */
function junosParams(msg: SyslogMessage): Readonly<Record<string, string>> | undefined {
  for (const el of msg.structuredData) if (el.id.startsWith('junos@')) return el.params;
  return undefined;
}

function hasAll(bytes: Buffer, needles: readonly Buffer[]): boolean {
  for (const n of needles) if (bytes.indexOf(n) < 0) return false;
  return true;
}

const miss = (code: MissCode, message: string): MissReason => ({ code, message });

/** A miss, told apart from captured fields by its class (a pattern may capture `code`/`message`). */
class MissResult implements MissReason {
  constructor(
    readonly code: MissCode,
    readonly message: string,
  ) {}
}

/** Tries one pattern on a message whose tag and literals already fit; a reason string on failure. */
export function tryPattern(p: CompiledPattern, msg: SyslogMessage): Fields | string {
  const r = attemptPattern(p, msg);
  return r instanceof MissResult ? r.message : r;
}

/** Like tryPattern, with the reason typed. */
export function attemptPattern(p: CompiledPattern, msg: SyslogMessage): Fields | MissResult {
  const out: Record<string, FieldValue> = {};
  if (p.regex) {
    let m: RegExpExecArray | null;
    try {
      m = XRegExp.exec(msg.text, p.regex);
    } catch (e) {
      return new MissResult('regex_error', `regex failed to run: ${String(e)}`);
    }
    if (!m) return new MissResult('regex_no_match', 'the text does not match the regex');
    const groups = (m as RegExpExecArray & { groups?: Record<string, string | undefined> }).groups ?? {};
    for (const [name, value] of Object.entries(groups)) {
      if (value !== undefined) applyTransforms(name, value, p.transforms[name] ?? [], out);
    }
    return out;
  }
  if (p.sd) {
    if (msg.text.trim() !== '')
      return new MissResult(
        'sd_text_present',
        'the line has text after the structured data (this pattern is for SD-only `brief` lines)',
      );
    const params = junosParams(msg);
    if (!params) return new MissResult('sd_missing', 'no junos@… structured-data element');
    for (const [field, param] of Object.entries(p.sd)) {
      const v = Object.hasOwn(params, param) ? params[param] : undefined;
      if (v === undefined) {
        if (p.optional.includes(field)) continue;
        return new MissResult('sd_param_missing', `SD parameter "${param}" (field ${field}) is missing`);
      }
      applyTransforms(field, v, p.transforms[field] ?? [], out);
    }
    return out;
  }
  return new MissResult('no_rule', 'pattern has neither regex nor sd');
}

/**
 * First enabled pattern (in library order) whose literals occur in `bytes`, whose tags include
 * the message's tag, and whose regex / SD mapping fits.
 */
export function matchMessage(patterns: readonly CompiledPattern[], msg: SyslogMessage, bytes: Buffer): MatchResult {
  const tag = messageTag(msg);
  let best: { p: CompiledPattern; why: MissReason; score: number } | undefined;
  for (const p of patterns) {
    if (!p.enabled || !hasAll(bytes, p.needles)) continue;
    if (p.tags.length > 0 && (tag === undefined || !p.tags.includes(tag))) {
      if (!best) best = { p, score: 1, why: miss('tag_mismatch', `tag ${tag ?? '(none)'} is not one of [${p.tags.join(', ')}]`) };
      continue;
    }
    const r = attemptPattern(p, msg);
    if (!(r instanceof MissResult)) return { matched: true, patternId: p.id, kind: p.kind, fields: r, pattern: p };
    if (!best || best.score < 2) best = { p, score: 2, why: r };
  }
  if (!best) return { matched: false, code: 'no_candidate', reason: 'no pattern has all its `match` literals in this line' };
  return { matched: false, candidate: best.p, code: best.why.code, reason: best.why.message };
}
