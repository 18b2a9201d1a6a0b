// What a syslog golden file holds, built the same way by the regen command and the golden test:
// the sample's bytes as written in srx-vpn.log (printable ASCII as is, the rest `\xHH`: the exact
// input, shown without trusting the decoder under test) and the parse result with a fixed key order and
// absent fields written as null.
import { fileURLToPath } from 'node:url';
import { parseSyslog } from '../../src/syslog/parse.js';
import type { Sample } from '../fixtures/samples.js';

export const SYSLOG_GOLDEN_DIR = fileURLToPath(new URL('../fixtures/golden/syslog/', import.meta.url));
export const REGEN_COMMAND = 'node --import tsx test/tools/regen-syslog-golden.ts';

export function escapeBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The golden document for one sample; plain JSON data, keys in a fixed order. */
export function syslogGolden(sample: Sample): unknown {
  const m = parseSyslog(sample.bytes);
  return {
    id: sample.id,
    input: escapeBytes(sample.bytes),
    parsed: {
      format: m.format,
      pri: m.pri ?? null,
      timestamp: m.timestamp ?? null,
      hostname: m.hostname ?? null,
      appName: m.appName ?? null,
      procId: m.procId ?? null,
      msgId: m.msgId ?? null,
      structuredData: m.structuredData.map((e) => ({ id: e.id, params: { ...e.params } })),
      text: m.text,
    },
  };
}

/**
 * `<id>-<real|constructed>-<envelope>-<app>-<tag>.json`, e.g. `C7-constructed-bsd-kmd-KMD_VPN_UP_ALARM_USER.json`:
 * the name says what the file holds. It follows the parse, so a parser change that alters a
 * sample's envelope renames its file (the golden test then names the regen command).
 */
export function goldenFileName(sample: Sample): string {
  const m = parseSyslog(sample.bytes);
  const origin = /^\S+ \((real|constructed)\)/.exec(sample.comment)?.[1] ?? 'sample';
  const format = m.format === 'rfc3164' ? 'bsd' : m.format;
  const tag = (m.msgId ?? 'untagged').replace(/^%[A-Z0-9]+-\d-/, '');
  const app = (m.appName ?? 'noapp').replace(/[^A-Za-z0-9]+/g, '');
  return `${sample.id}-${origin}-${format}-${app || 'noapp'}-${tag.replace(/[^A-Za-z0-9_]+/g, '')}.json`;
}

export function serializeGolden(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
