import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSyslogText } from '../../../src/syslog/decode.js';
import { parseSyslog } from '../../../src/syslog/parse.js';
import type { SyslogMessage } from '../../../src/types.js';
import { loadSamples } from '../../fixtures/samples.js';

const OPTIONAL = ['timestamp', 'hostname', 'appName', 'procId', 'msgId'] as const;

/** The shape every caller relies on, whatever the input. */
function expectWellFormed(m: SyslogMessage): void {
  expect(['rfc5424', 'rfc3164', 'unknown']).toContain(m.format);
  expect(typeof m.text).toBe('string');
  if (m.pri !== undefined) {
    expect(Number.isInteger(m.pri) && m.pri >= 0 && m.pri <= 191).toBe(true);
  }
  for (const k of OPTIONAL) {
    if (m[k] !== undefined) expect(typeof m[k]).toBe('string');
  }
  expect(Array.isArray(m.structuredData)).toBe(true);
  for (const el of m.structuredData) {
    expect(typeof el.id).toBe('string');
    expect(el.id.length).toBeGreaterThan(0);
    for (const v of Object.values(el.params)) expect(typeof v).toBe('string');
  }
  if (m.format === 'unknown') {
    expect(m.structuredData).toEqual([]);
    for (const k of OPTIONAL) expect(m[k]).toBeUndefined();
  }
}

/** Trailing CR/LF are framing, not message. */
function withoutTrailingNewlines(b: Uint8Array): Uint8Array {
  let end = b.length;
  while (end > 0 && (b[end - 1] === 0x0a || b[end - 1] === 0x0d)) end--;
  return b.subarray(0, end);
}

const samples = loadSamples();

describe('parseSyslog properties', () => {
  it('never throws on arbitrary bytes, and an unknown line keeps all its text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (raw) => {
        const m = parseSyslog(Buffer.from(raw));
        expectWellFormed(m);
        if (m.format === 'unknown') expect(m.text).toBe(decodeSyslogText(withoutTrailingNewlines(raw)));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on syslog-looking text built from envelope fragments', () => {
    const fragment = fc.constantFrom(
      '<30>',
      '<190>',
      '<1>1 ',
      '1 ',
      '- ',
      '[',
      ']',
      '"',
      '\\',
      '=',
      ' ',
      '  ',
      'Mar  3 ',
      'Mar 3 ',
      '2026 ',
      '14:02:11 ',
      '14:02:11.418 ',
      '2026-03-03T14:02:11Z ',
      'srx1 ',
      'kmd[2183]: ',
      'kmd: ',
      '(FPC Slot 3, PIC Slot 0) ',
      'SPC3_PIC0 ',
      'KMD_VPN_UP_ALARM_USER: ',
      '%DAEMON-6-',
      'junos@2636.1.1.1.2.129 ',
      'a="b" ',
      'x=',
      '\uFEFF',
      '\r',
      '\n',
      '\u00ca',
    );
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 40 }), (parts) => {
        expectWellFormed(parseSyslog(Buffer.from(parts.join(''), 'utf8')));
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on mutated samples (byte flips, inserts, deletions, cuts)', () => {
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: samples.length - 1 }), fc.array(mutation, { maxLength: 6 }), (idx, ops) => {
        let b = Buffer.from(samples[idx]!.bytes);
        for (const m of ops) {
          const at = b.length === 0 ? 0 : m.at % (b.length + 1);
          if (m.op === 'set' && at < b.length) b[at] = m.byte;
          else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
          else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
          else if (m.op === 'cut') b = b.subarray(0, at);
        }
        expectWellFormed(parseSyslog(b));
      }),
      { numRuns: 500 },
    );
  });

  it('no cut of any sample yields a field the whole sample does not have (every cut point)', () => {
    // Exhaustive rather than sampled: ~20k parses, a few milliseconds each hundred.
    for (const sample of samples) {
      const whole = parseSyslog(sample.bytes);
      for (let cutAt = 0; cutAt <= sample.bytes.length; cutAt++) {
        const cut = parseSyslog(sample.bytes.subarray(0, cutAt));
        for (const k of OPTIONAL) {
          if (cut[k] !== undefined && cut[k] !== whole[k]) {
            expect.fail(
              `${sample.id} cut at ${cutAt}: ${k} ${JSON.stringify(cut[k])}, whole line has ${JSON.stringify(whole[k])}`,
            );
          }
        }
      }
    }
  });

  // The test's own RFC 5424 PARAM-VALUE encoder: escape exactly `"`, `\` and `]`.
  const escapeParamValue = (v: string): string => v.replace(/["\\\]]/g, (c) => `\\${c}`);

  it('round-trips arbitrary SD param values and text through a generated RFC 5424 message', () => {
    const paramName = fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/);
    const element = fc.record({
      id: fc.stringMatching(/^junos@2636(\.\d{1,3}){0,8}$/),
      params: fc.uniqueArray(fc.tuple(paramName, fc.string({ unit: 'binary', maxLength: 40 })), {
        maxLength: 6,
        selector: ([name]) => name,
      }),
    });
    // MSG: any text that does not start with a BOM (removed by design) nor end in CR/LF (framing).
    const text = fc.string({ unit: 'binary', maxLength: 80 }).filter((t) => !t.startsWith('\uFEFF') && !/[\r\n]$/.test(t));
    fc.assert(
      fc.property(fc.array(element, { minLength: 1, maxLength: 3 }), text, (elements, msg) => {
        const sd = elements
          .map((e) => `[${e.id}${e.params.map(([k, v]) => ` ${k}="${escapeParamValue(v)}"`).join('')}]`)
          .join('');
        const line = `<30>1 2026-03-03T14:02:11.512+01:00 srx1 iked 20431 IKE_VPN_UP_ALARM_USER ${sd} ${msg}`;
        const m = parseSyslog(Buffer.from(line, 'utf8'));
        expect(m.format).toBe('rfc5424');
        expect(m.structuredData.map((e) => ({ id: e.id, params: { ...e.params } }))).toEqual(
          elements.map((e) => ({ id: e.id, params: Object.fromEntries(e.params) })),
        );
        expect(m.text).toBe(msg);
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['5424 header of `[`', `<1>1 ${'['.repeat(100_000)}`],
    ['SD of `[`', `<1>1 - - - - - ${'['.repeat(100_000)}`],
    ['value of `\\"`', `<1>1 - - - - - [a@1 b="${'\\"'.repeat(50_000)}`],
    ['value of `\\`', `<1>1 - - - - - [a@1 b="${'\\'.repeat(100_000)}`],
    ['many params', `<1>1 - - - - - [a@1${' b="c"'.repeat(20_000)}`],
    ['many elements', `<1>1 - - - - - ${'[a@1 b="c"]'.repeat(10_000)}`],
    ['BSD spaces', `<30>Mar  3 14:02:11${' '.repeat(100_000)}x`],
    ['FPC parentheses', `<30>Mar  3 14:02:11 h ${'('.repeat(100_000)}`],
    ['colons', `<30>Mar  3 14:02:11 h ${':'.repeat(100_000)}`],
    ['tag of capitals', `<30>Mar  3 14:02:11 h kmd[1]: ${'A'.repeat(100_000)}`],
    ['pid digits', `<30>Mar  3 14:02:11 h kmd[${'1'.repeat(100_000)}`],
  ])('returns on adversarial input: %s', (_name, line) => {
    expectWellFormed(parseSyslog(Buffer.from(line, 'latin1')));
  });

  it('returns on 100 KB of invalid UTF-8', () => {
    expectWellFormed(parseSyslog(Buffer.alloc(100_000, 0xff)));
  });
});

describe('parseSyslog: the tag wherever a relay put it', () => {
  const name = fc.constantFrom('kmd', 'iked', '/kernel', 'rpd');
  const tag = fc.constantFrom('KMD_VPN_UP_ALARM_USER', 'IKE_VPN_DOWN_ALARM_USER', '%DAEMON-6-KMD_VPN_UP_ALARM_USER');
  const text = fc.string({ maxLength: 80 }).map((t) => `VPN ${t.replace(/[\r\n]/g, ' ')}`);
  const pid = fc.integer({ min: 1, max: 99999 }).map(String);

  it('reads the same process, pid, tag and text from a BSD line, its RFC 5424 relay (nil MSGID) and a relay header in front', () => {
    fc.assert(
      fc.property(name, pid, tag, text, fc.constantFrom('', ' '), (app, p, t, txt, extraSpace) => {
        const bsd = parseSyslog(Buffer.from(`<30>Mar  3 14:06:10 srx1 ${app}[${p}]: ${t}: ${txt}`));
        const relayed5424 = parseSyslog(
          Buffer.from(`<30>1 2026-03-03T14:06:10+00:00 srx1 ${app} ${p} - - ${extraSpace}${t}: ${txt}`),
        );
        const wrapped = parseSyslog(
          Buffer.from(`<13>Nov 30 06:31:38 relay1 <30>Mar  3 14:06:10 srx1 ${app}[${p}]: ${t}: ${txt}`),
        );
        const want = { appName: app, procId: p, msgId: bsd.msgId, text: txt };
        expect(bsd).toMatchObject({ ...want, hostname: 'srx1' });
        expect(relayed5424).toMatchObject({ ...want, hostname: 'srx1', format: 'rfc5424' });
        expect(wrapped).toMatchObject({ ...want, hostname: 'srx1' });
      }),
      { numRuns: 200 },
    );
  });

  it('keeps an RFC 5424 MSG without a leading tag as it is', () => {
    fc.assert(
      fc.property(text, (txt) => {
        const m = parseSyslog(Buffer.from(`<30>1 2026-03-03T14:06:10+00:00 srx1 kmd 1 - - ${txt.toLowerCase()}`));
        expect(m.msgId).toBeUndefined();
        expect(m.text).toBe(txt.toLowerCase());
      }),
    );
  });
});
