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

export interface Miss {
  readonly matched: false;
  /** Closest candidate: the first pattern whose tag and literals matched, else whose literals did. */
  readonly candidate?: CompiledPattern;
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

/** Tries one pattern on a message whose tag and literals already fit; a reason string on failure. */
export function tryPattern(p: CompiledPattern, msg: SyslogMessage): Fields | string {
  const out: Record<string, FieldValue> = {};
  if (p.regex) {
    let m: RegExpExecArray | null;
    try {
      m = XRegExp.exec(msg.text, p.regex);
    } catch (e) {
      return `regex failed to run: ${String(e)}`;
    }
    if (!m) return 'the text does not match the regex';
    const groups = (m as RegExpExecArray & { groups?: Record<string, string | undefined> }).groups ?? {};
    for (const [name, value] of Object.entries(groups)) {
      if (value !== undefined) applyTransforms(name, value, p.transforms[name] ?? [], out);
    }
    return out;
  }
  if (p.sd) {
    if (msg.text.trim() !== '') return 'the line has text after the structured data (this pattern is for SD-only `brief` lines)';
    const params = junosParams(msg);
    if (!params) return 'no junos@… structured-data element';
    for (const [field, param] of Object.entries(p.sd)) {
      const v = Object.hasOwn(params, param) ? params[param] : undefined;
      if (v === undefined) {
        if (p.optional.includes(field)) continue;
        return `SD parameter "${param}" (field ${field}) is missing`;
      }
      applyTransforms(field, v, p.transforms[field] ?? [], out);
    }
    return out;
  }
  return 'pattern has neither regex nor sd';
}

/**
 * First enabled pattern (in library order) whose literals occur in `bytes`, whose tags include
 * the message's tag, and whose regex / SD mapping fits.
 */
export function matchMessage(patterns: readonly CompiledPattern[], msg: SyslogMessage, bytes: Buffer): MatchResult {
  const tag = messageTag(msg);
  let best: { p: CompiledPattern; reason: string; score: number } | undefined;
  for (const p of patterns) {
    if (!p.enabled || !hasAll(bytes, p.needles)) continue;
    if (p.tags.length > 0 && (tag === undefined || !p.tags.includes(tag))) {
      if (!best) best = { p, score: 1, reason: `tag ${tag ?? '(none)'} is not one of [${p.tags.join(', ')}]` };
      continue;
    }
    const r = tryPattern(p, msg);
    if (typeof r !== 'string') return { matched: true, patternId: p.id, kind: p.kind, fields: r, pattern: p };
    if (!best || best.score < 2) best = { p, score: 2, reason: r };
  }
  if (!best) return { matched: false, reason: 'no pattern has all its `match` literals in this line' };
  return { matched: false, candidate: best.p, reason: best.reason };
}
