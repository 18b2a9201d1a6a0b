// The syslog parse stage (pure): one framed message → SyslogMessage. Never throws, never reads
// the clock, linear in the input. RFC 5424 when the PRI is followed by version `1`, else BSD /
// Junos shapes; a line with no recognisable envelope comes back as `unknown` with all its text.
import type { SyslogMessage } from '../types.js';
import { parseBsd } from './bsd.js';
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
  const pri = readPri(s);
  if (pri !== undefined && looksLikeRfc5424(s, pri.next)) return parseRfc5424(s, pri.next, pri.pri);
  return parseBsd(s, pri?.next ?? 0, pri?.pri) ?? unknown(s);
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
