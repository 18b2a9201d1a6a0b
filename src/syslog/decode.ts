// Turns syslog bytes into a JS string without losing any byte: kmd prints some IKE ids as raw
// binary (invalid UTF-8, CR, LF, NUL), and a lossy decoder (U+FFFD) would erase exactly the
// bytes an operator may need to see. Valid UTF-8 decodes normally; every byte that does not
// start a well-formed UTF-8 sequence becomes the char U+00XX of the same value (latin1).
import { isUtf8 } from 'node:buffer';

/**
 * Length of the well-formed UTF-8 sequence starting at `i` (Unicode 15, table 3-7: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0 when the byte at `i` does not start one.
 */
function sequenceLength(b: Uint8Array, i: number): number {
  const b0 = b[i]!;
  const n = b.length;
  const cont = (j: number, lo = 0x80, hi = 0xbf): boolean => j < n && b[j]! >= lo && b[j]! <= hi;
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (b0 === 0xe0) return cont(i + 1, 0xa0) && cont(i + 2) ? 3 : 0;
  if ((b0 >= 0xe1 && b0 <= 0xec) || b0 === 0xee || b0 === 0xef) return cont(i + 1) && cont(i + 2) ? 3 : 0;
  if (b0 === 0xed) return cont(i + 1, 0x80, 0x9f) && cont(i + 2) ? 3 : 0;
  if (b0 === 0xf0) return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (b0 === 0xf4) return cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  return 0;
}

/**
 * Decodes syslog bytes: valid UTF-8 as UTF-8, each byte outside a well-formed sequence as U+00XX.
 * Keeps every byte, including CR, LF, NUL and a leading BOM (the parser decides what they mean).
 */
export function decodeSyslogText(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Fast path: almost every line is valid UTF-8 (usually plain ASCII); isUtf8 is native.
  if (isUtf8(buf)) return buf.toString('utf8');
  let out = '';
  let runStart = 0;
  let i = 0;
  while (i < buf.length) {
    const len = sequenceLength(buf, i);
    if (len > 0) {
      i += len;
      continue;
    }
    if (runStart < i) out += buf.toString('utf8', runStart, i);
    out += String.fromCharCode(buf[i]!);
    i++;
    runStart = i;
  }
  if (runStart < buf.length) out += buf.toString('utf8', runStart, buf.length);
  return out;
}
