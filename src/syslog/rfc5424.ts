// RFC 5424 after the PRI: `1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [SP MSG]`, as Junos
// sends it with `structured-data` (optionally `brief`: SD, one space, no text).
import type { SyslogMessage } from '../types.js';
import { readStructuredData } from './structured-data.js';

const SPACE = 0x20;
const BOM = '\uFEFF';

/** True when `s` continues at `i` with `1 ` and then a timestamp or `-` (not a BSD hostname `1`). */
export function looksLikeRfc5424(s: string, i: number): boolean {
  if (s.charCodeAt(i) !== 0x31 || s.charCodeAt(i + 1) !== SPACE) return false;
  const c = s.charCodeAt(i + 2);
  return (c >= 0x30 && c <= 0x39) || c === 0x2d;
}

const nil = (token: string): string | undefined => (token === '-' ? undefined : token);

/**
 * Parses from the VERSION digit at `start`. A header field counts only when a space follows it:
 * a line cut inside the header keeps the complete fields and drops the cut one, so a truncated
 * token never shows up as a (wrong) hostname or MSGID.
 */
export function parseRfc5424(s: string, start: number, pri: number): SyslogMessage {
  const header: (string | undefined)[] = [];
  let i = start + 2;
  while (header.length < 5) {
    while (s.charCodeAt(i) === SPACE) i++;
    const sp = s.indexOf(' ', i);
    if (sp < 0) break;
    header.push(nil(s.slice(i, sp)));
    i = sp + 1;
  }
  let structuredData: SyslogMessage['structuredData'] = [];
  let text = '';
  if (header.length === 5) {
    while (s.charCodeAt(i) === SPACE) i++;
    const c = s.charAt(i);
    if (c === '-') {
      // NILVALUE: `- MSG`; anything glued to the dash is not SD, so it stays in the text.
      if (i + 1 >= s.length) text = '';
      else text = s.charCodeAt(i + 1) === SPACE ? s.slice(i + 2) : s.slice(i);
    } else if (c === '[') {
      const sd = readStructuredData(s, i);
      structuredData = sd.elements;
      // Malformed or cut SD: keep the complete elements and hand the rest over as text, so
      // nothing is lost and no half-read value is presented as structured.
      if (!sd.ok) text = s.slice(sd.end);
      else text = s.charCodeAt(sd.end) === SPACE ? s.slice(sd.end + 1) : s.slice(sd.end);
    } else {
      text = s.slice(i); // SD missing: the rest can only be text
    }
    if (text.startsWith(BOM)) text = text.slice(1);
  }
  return {
    format: 'rfc5424',
    pri,
    timestamp: header[0],
    hostname: header[1],
    appName: header[2],
    procId: header[3],
    msgId: header[4],
    structuredData,
    text,
  };
}
