// RFC 5424 STRUCTURED-DATA reader: `[id name="value" ...][id2 ...]`. A single forward scan with
// no regular expressions, so adversarial input (100 KB of `[` or `\"`) costs linear time.
//
// Escapes inside a value: `\"`, `\\` and `\]` stand for the second char. Junos has been seen
// leaving a backslash unescaped (`EXAMPLE\carol`), so a backslash followed by anything else is
// kept literally instead of failing the message. An unescaped `]` inside quotes is just a char.
import type { StructuredData } from '../types.js';

type Element = StructuredData[number];

export interface StructuredDataResult {
  /** Elements that were read completely. */
  readonly elements: Element[];
  /** Index just after the last complete element (or of the first char of a broken one). */
  readonly end: number;
  /** False when an element was malformed or cut; `end` then points at its `[`. */
  readonly ok: boolean;
}

const SPACE = 0x20;
const QUOTE = 0x22;
const EQUALS = 0x3d;
const OPEN = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE = 0x5d;

/** Chars that end an SD-ID or a PARAM-NAME (RFC 5424 SD-NAME excludes them). */
function endsName(c: number): boolean {
  return c === SPACE || c === EQUALS || c === CLOSE || c === QUOTE || Number.isNaN(c);
}

/**
 * Reads a quoted PARAM-VALUE whose opening quote is at `start - 1`.
 * Returns the unescaped value and the index after the closing quote, or undefined when unterminated.
 */
function readValue(s: string, start: number): { value: string; next: number } | undefined {
  let value = '';
  let segment = start;
  let i = start;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === QUOTE) return { value: value + s.slice(segment, i), next: i + 1 };
    if (c === BACKSLASH) {
      const d = s.charCodeAt(i + 1);
      if (d === QUOTE || d === BACKSLASH || d === CLOSE) {
        value += s.slice(segment, i);
        segment = i + 1; // keep the escaped char, drop the backslash
        i += 2;
        continue;
      }
    }
    i++;
  }
  return undefined;
}

/** Reads one element starting at its `[`; undefined when malformed or cut. */
function readElement(s: string, open: number): { element: Element; next: number } | undefined {
  let i = open + 1;
  const idStart = i;
  while (!endsName(s.charCodeAt(i))) i++;
  if (i === idStart) return undefined;
  const id = s.slice(idStart, i);
  // Null prototype: a param named `__proto__` must be data, not a prototype change.
  const params = Object.create(null) as Record<string, string>;
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === CLOSE) return { element: { id, params }, next: i + 1 };
    if (c !== SPACE) return undefined;
    // RFC 5424 wants exactly one space; senders that put more (or one before `]`) lose nothing.
    while (s.charCodeAt(i) === SPACE) i++;
    if (s.charCodeAt(i) === CLOSE) continue;
    const nameStart = i;
    while (!endsName(s.charCodeAt(i))) i++;
    if (i === nameStart || s.charCodeAt(i) !== EQUALS || s.charCodeAt(i + 1) !== QUOTE) return undefined;
    const v = readValue(s, i + 2);
    if (v === undefined) return undefined;
    params[s.slice(nameStart, i)] = v.value; // a repeated name: the last one wins
    i = v.next;
  }
}

/** Reads consecutive SD elements starting at `start` (which should hold `[`). */
export function readStructuredData(s: string, start: number): StructuredDataResult {
  const elements: Element[] = [];
  let i = start;
  while (s.charCodeAt(i) === OPEN) {
    const r = readElement(s, i);
    if (r === undefined) return { elements, end: i, ok: false };
    elements.push(r.element);
    i = r.next;
  }
  return { elements, end: i, ok: elements.length > 0 };
}
