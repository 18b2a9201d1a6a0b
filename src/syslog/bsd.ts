// RFC 3164 (BSD) lines and the shapes Junos gives them:
//   [<PRI>][TIME ]host [(FPC Slot 3, PIC Slot 0) SPC3_PIC0 ]process[pid]: [TAG: |%FAC-N-TAG: ]text
// where TIME is `Mmm dd hh:mm:ss`, `Mmm dd yyyy hh:mm:ss.mmm`, a bare `hh:mm:ss` (`show log`
// output) or an ISO timestamp; a local-file copy has two spaces after the time and no PRI; some
// copies have neither time nor PRI; a PFE line has a tag right after the FPC prefix and no process.
// Hand-written scanning (no regex backtracking), every step moves forward.
import type { SyslogMessage } from '../types.js';

const SPACE = 0x20;
const COLON = 0x3a;
const MONTHS = new Set(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']);
/** Longest `(FPC Slot N, PIC Slot M)` prefix we look for; bounds the search for `)`. */
const MAX_PREFIX_CHARS = 64;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;

function digits(s: string, i: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (!isDigit(s.charCodeAt(i + k))) return false;
  return true;
}

/** `hh:mm:ss` with optional `.fraction`; returns the index after it, or -1. */
function readClock(s: string, i: number): number {
  if (!digits(s, i, 2) || s.charCodeAt(i + 2) !== COLON || !digits(s, i + 3, 2)) return -1;
  if (s.charCodeAt(i + 5) !== COLON || !digits(s, i + 6, 2)) return -1;
  let j = i + 8;
  if (s.charCodeAt(j) === 0x2e && isDigit(s.charCodeAt(j + 1))) {
    j++;
    while (isDigit(s.charCodeAt(j))) j++;
  }
  return j;
}

/** A timestamp at `i` that is followed by a space; returns the index after it, or -1. */
function readTimestamp(s: string, i: number): number {
  let end = -1;
  if (MONTHS.has(s.slice(i, i + 3)) && s.charCodeAt(i + 3) === SPACE) {
    let j = i + 4;
    if (s.charCodeAt(j) === SPACE) j++; // day padded with a space: `Mar  3`
    if (isDigit(s.charCodeAt(j))) {
      j += isDigit(s.charCodeAt(j + 1)) ? 2 : 1;
      if (s.charCodeAt(j) === SPACE) {
        j++;
        if (digits(s, j, 4) && s.charCodeAt(j + 4) === SPACE) j += 5; // `time-format year`
        end = readClock(s, j);
      }
    }
  } else if (digits(s, i, 4) && s.charCodeAt(i + 4) === 0x2d && digits(s, i + 5, 2) && s.charCodeAt(i + 10) === 0x54) {
    end = s.indexOf(' ', i); // ISO 8601 (`2026-03-03T14:02:11+01:00`), as some relays rewrite it
  } else {
    end = readClock(s, i);
  }
  // Only a space proves the timestamp complete: at the end of a cut line `15:47:52.4` may have
  // been `15:47:52.418`, and a wrong field is worse than none.
  return end >= 0 && s.charCodeAt(end) === SPACE ? end : -1;
}

interface Step {
  readonly next: number;
}

/**
 * A Junos tag `TAG:` or `%FACILITY-N-TAG:` (explicit-priority), followed by a space or the end.
 * `next` is the start of the text (one space skipped).
 */
function readTag(s: string, i: number): (Step & { tag: string }) | undefined {
  let j = i;
  if (s.charCodeAt(j) === 0x25) {
    j++;
    while (isUpper(s.charCodeAt(j)) || isDigit(s.charCodeAt(j))) j++;
    if (j === i + 1 || s.charCodeAt(j) !== 0x2d || !isDigit(s.charCodeAt(j + 1)) || s.charCodeAt(j + 2) !== 0x2d) {
      return undefined;
    }
    j += 3;
  }
  const tagStart = j;
  if (!isUpper(s.charCodeAt(j))) return undefined;
  j++;
  for (let c = s.charCodeAt(j); isUpper(c) || isDigit(c) || c === 0x5f; c = s.charCodeAt(++j));
  if (j - tagStart < 2 || s.charCodeAt(j) !== COLON) return undefined;
  const after = s.charCodeAt(j + 1);
  if (after === SPACE) return { tag: s.slice(tagStart, j), next: j + 2 };
  if (Number.isNaN(after)) return { tag: s.slice(tagStart, j), next: j + 1 };
  return undefined;
}

/** `name[pid]:` or `name:` followed by a space or the end; `next` is after `: `. */
function readProcess(s: string, i: number): (Step & { name: string; pid?: string }) | undefined {
  let j = i;
  for (let c = s.charCodeAt(j); c > SPACE && c !== 0x5b && c !== 0x5d && c !== COLON && c !== 0x7f; c = s.charCodeAt(++j));
  // A digit first is a cut clock (`19:`) or a number, never a Junos process (kmd, iked, /kernel).
  if (j === i || isDigit(s.charCodeAt(i))) return undefined;
  const name = s.slice(i, j);
  let pid: string | undefined;
  if (s.charCodeAt(j) === 0x5b) {
    const pidStart = j + 1;
    j = pidStart;
    while (isDigit(s.charCodeAt(j))) j++;
    if (j === pidStart || s.charCodeAt(j) !== 0x5d) return undefined;
    pid = s.slice(pidStart, j);
    j++;
  }
  if (s.charCodeAt(j) !== COLON) return undefined;
  const after = s.charCodeAt(j + 1);
  if (after === SPACE) return { name, pid, next: j + 2 };
  if (Number.isNaN(after)) return { name, pid, next: j + 1 };
  return undefined;
}

/** A space-terminated token at `i`; returns the index of the space, or -1. */
function tokenEnd(s: string, i: number): number {
  const sp = s.indexOf(' ', i);
  return sp > i ? sp : -1;
}

function skipSpaces(s: string, i: number): number {
  while (s.charCodeAt(i) === SPACE) i++;
  return i;
}

interface Fields {
  hostname?: string;
  appName?: string;
  procId?: string;
  msgId?: string;
  text: string;
}

/** The part after `process[pid]: `: an optional tag, then text. */
function body(s: string, i: number, f: Fields): Fields {
  const tag = readTag(s, i);
  if (tag) {
    f.msgId = tag.tag;
    f.text = s.slice(tag.next);
  } else {
    f.text = s.slice(i);
  }
  return f;
}

/** Tag or process at `i`; undefined when neither is there. */
function tagOrProcess(s: string, i: number, f: Fields): Fields | undefined {
  const tag = readTag(s, i);
  if (tag) {
    f.msgId = tag.tag;
    f.text = s.slice(tag.next);
    return f;
  }
  const proc = readProcess(s, i);
  if (proc) {
    f.appName = proc.name;
    f.procId = proc.pid;
    return body(s, proc.next, f);
  }
  return undefined;
}

/**
 * The tag where a relay left it at the start of the message text: `TAG: `, `%FAC-N-TAG: `,
 * `name[pid]: [TAG: ]` (leading spaces skipped: rsyslog keeps the space after the BSD tag).
 * Same rules as a BSD line; undefined when the text does not start with one of them.
 */
export function tagAtStart(text: string): { msgId?: string; appName?: string; procId?: string; text: string } | undefined {
  const f = tagOrProcess(text, skipSpaces(text, 0), { text: '' });
  if (f === undefined) return undefined;
  return { msgId: f.msgId, appName: f.appName, procId: f.procId, text: f.text };
}

/** Skips `(FPC Slot 3, PIC Slot 0) ` and the component name after it; -1 when absent. */
function skipFpcPrefix(s: string, i: number): number {
  if (s.charCodeAt(i) !== 0x28) return -1;
  const close = s.indexOf(')', i);
  if (close < 0 || close - i > MAX_PREFIX_CHARS || s.charCodeAt(close + 1) !== SPACE) return -1;
  let j = skipSpaces(s, close + 1);
  // SRX5k SPUs add a component (`SPC3_PIC0`) before the process; PFE lines go straight to a tag.
  if (readTag(s, j) === undefined && readProcess(s, j) === undefined) {
    const end = tokenEnd(s, j);
    if (end > 0) {
      const after = skipSpaces(s, end);
      if (readTag(s, after) || readProcess(s, after)) j = after;
    }
  }
  return j;
}

/**
 * Parses a BSD-style line from `start` (just after the PRI, if any). Returns undefined when the
 * line has none of the landmarks (timestamp, `process:`, `TAG:`) that make it syslog: a bare
 * word could be anything, so guessing a hostname from it would be worse than `unknown`.
 */
export function parseBsd(s: string, start: number, pri: number | undefined): SyslogMessage | undefined {
  let i = start;
  let timestamp: string | undefined;
  const tsEnd = readTimestamp(s, i);
  if (tsEnd >= 0) {
    timestamp = s.slice(i, tsEnd);
    i = skipSpaces(s, tsEnd);
  }
  let f: Fields | undefined = tagOrProcess(s, i, { text: '' });
  if (f === undefined) {
    const hostEnd = tokenEnd(s, i);
    if (hostEnd > 0) {
      const hostname = s.slice(i, hostEnd);
      const afterHost = skipSpaces(s, hostEnd);
      const afterPrefix = skipFpcPrefix(s, afterHost);
      f = tagOrProcess(s, afterPrefix >= 0 ? afterPrefix : afterHost, { hostname, text: '' });
      // A timestamp is landmark enough: `host free text` is a (tag-less) RFC 3164 message.
      if (f === undefined && timestamp !== undefined) f = { hostname, text: s.slice(afterHost) };
    } else if (timestamp !== undefined) {
      f = { text: s.slice(i) };
    }
  }
  if (f === undefined) return undefined;
  return {
    format: 'rfc3164',
    pri,
    timestamp,
    hostname: f.hostname,
    appName: f.appName,
    procId: f.procId,
    msgId: f.msgId,
    structuredData: [],
    text: f.text,
  };
}
