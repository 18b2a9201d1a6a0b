// The syslog parse stage (pure): one framed message → SyslogMessage. Never throws, never reads
// the clock, linear in the input. RFC 5424 when the PRI is followed by version `1`, else BSD /
// Junos shapes; a line with no recognisable envelope comes back as `unknown` with all its text.
//
// Relays move the tag: a BSD line relayed as RFC 5424 (logger's remote default, rsyslog's
// RSYSLOG_SyslogProtocol23Format, syslog-ng's syslog() driver) has a nil MSGID and keeps
// `TAG: ` at the start of MSG; a relay that does not parse what it forwards (syslog-ng
// `flags(no-parse)`) puts its own header in front of the whole original line. Both are read
// here, so every later stage sees the firewall's tag wherever the sender put it.
import type { SyslogMessage } from '../types.js';
import { parseBsd, tagAtStart } from './bsd.js';
import { decodeSyslogText } from './decode.js';
import { looksLikeRfc5424, parseRfc5424 } from './rfc5424.js';

/** Largest valid PRI: facility 23 (local7) * 8 + severity 7. */
const MAX_PRI = 191;

/** `<PRI>` at the start of `s`: its value and the index after `>`, or undefined. */
function readPri(s: string): { pri: number; next: number } | undefined {
  if (s.charCodeAt(0) !== 0x3c) return undefined;
  let pri = 0;
  let i = 1;
  for (; i <= 3; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    pri = pri * 10 + (c - 0x30);
  }
  if (i === 1 || s.charCodeAt(i) !== 0x3e || pri > MAX_PRI) return undefined;
  return { pri, next: i + 1 };
}

/** Parses an already decoded line (no trailing CR/LF expected, but tolerated). */
export function parseSyslogLine(line: string): SyslogMessage {
  let end = line.length;
  while (end > 0 && (line.charCodeAt(end - 1) === 0x0a || line.charCodeAt(end - 1) === 0x0d)) end--;
  const s = end === line.length ? line : line.slice(0, end);
  return parseEnvelope(s, 0) ?? unknown(s);
}

/** How many relay headers in front of the original line are looked through. */
const MAX_RELAY_DEPTH = 2;

function parseEnvelope(s: string, depth: number): SyslogMessage | undefined {
  const pri = readPri(s);
  const msg =
    pri !== undefined && looksLikeRfc5424(s, pri.next)
      ? parseRfc5424(s, pri.next, pri.pri)
      : parseBsd(s, pri?.next ?? 0, pri?.pri);
  return msg === undefined || msg.msgId !== undefined ? msg : tagFromText(msg, depth);
}

/** A message without a tag in its header: the relayed original line, or a tag at the start of MSG. */
function tagFromText(msg: SyslogMessage, depth: number): SyslogMessage {
  let i = 0;
  while (msg.text.charCodeAt(i) === 0x20) i++;
  if (depth < MAX_RELAY_DEPTH && readPri(msg.text.slice(i, i + 5)) !== undefined) {
    const inner = parseEnvelope(msg.text.slice(i), depth + 1);
    if (inner !== undefined) return inner;
  }
  if (msg.format === 'rfc5424') {
    const t = tagAtStart(msg.text);
    if (t !== undefined) {
      return { ...msg, appName: msg.appName ?? t.appName, procId: msg.procId ?? t.procId, msgId: t.msgId, text: t.text };
    }
  }
  return depth < MAX_RELAY_DEPTH ? (misparsedByRelay(msg) ?? msg) : msg;
}

/**
 * A relay that misread a Junos header re-sends it with the pieces in the wrong fields:
 * syslog-ng reads `Mar  3 2026 15:47:52.418` (time-format year) as hostname `localhost` and
 * program `Mar`; rsyslog takes `(FPC` of `(FPC Slot 3, PIC Slot 0) SPC3_PIC0 kmd[2150]:` as the
 * APP-NAME. Joined back in order, the fields form the original BSD line, which is read with its
 * own rules; the result counts only when it has a tag.
 */
function misparsedByRelay(msg: SyslogMessage): SyslogMessage | undefined {
  const text = msg.text.trimStart();
  const candidates =
    msg.format === 'rfc3164'
      ? [text]
      : msg.appName === undefined
        ? []
        : [`${msg.appName} ${text}`, ...(msg.hostname === undefined ? [] : [`${msg.hostname} ${msg.appName} ${text}`])];
  for (const c of candidates) {
    const inner = parseBsd(c, 0, msg.pri);
    if (inner?.msgId !== undefined) return inner;
  }
  return undefined;
}

function unknown(text: string): SyslogMessage {
  return {
    format: 'unknown',
    pri: undefined,
    timestamp: undefined,
    hostname: undefined,
    appName: undefined,
    procId: undefined,
    msgId: undefined,
    structuredData: [],
    text,
  };
}

/**
 * Parses one framed syslog message. Trailing CR/LF are not part of the message (the framer
 * strips them; tolerated here); CR, LF and NUL inside it are kept, as are bytes that are not
 * UTF-8 (decoded one char per byte, see decode.ts).
 */
export function parseSyslog(bytes: Buffer): SyslogMessage {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return parseSyslogLine(decodeSyslogText(end === bytes.length ? bytes : bytes.subarray(0, end)));
}
