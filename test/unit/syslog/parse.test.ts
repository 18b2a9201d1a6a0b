import { describe, expect, it } from 'vitest';
import { decodeSyslogText } from '../../../src/syslog/decode.js';
import { parseSyslog, parseSyslogLine } from '../../../src/syslog/parse.js';
import type { SyslogMessage } from '../../../src/types.js';

const parse = (line: string | Buffer): SyslogMessage => parseSyslog(typeof line === 'string' ? Buffer.from(line, 'utf8') : line);
const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

const UP_TEXT =
  'VPN JSC-VPN from 198.51.100.23 is up. Local-ip: 203.0.113.10, gateway name: JSC-GW, AAA username: alice, SA Type: Static';
const HDR5424 = '<30>1 2026-03-03T14:02:11.512+01:00 vsrx1 kmd 2183 KMD_VPN_UP_ALARM_USER';

describe('parseSyslog: RFC 5424', () => {
  it('reads the header, several SD elements and the text', () => {
    const m = parse(
      `${HDR5424} [junos@2636.1.1.1.2.129 vpn-name="JSC-VPN" aaa-username="alice"][origin@32473 ip="192.0.2.7"] ${UP_TEXT}`,
    );
    expect(m).toEqual({
      format: 'rfc5424',
      pri: 30,
      timestamp: '2026-03-03T14:02:11.512+01:00',
      hostname: 'vsrx1',
      appName: 'kmd',
      procId: '2183',
      msgId: 'KMD_VPN_UP_ALARM_USER',
      structuredData: [
        { id: 'junos@2636.1.1.1.2.129', params: { 'vpn-name': 'JSC-VPN', 'aaa-username': 'alice' } },
        { id: 'origin@32473', params: { ip: '192.0.2.7' } },
      ],
      text: UP_TEXT,
    });
  });

  it('turns every nil field into undefined', () => {
    const m = parse('<13>1 - - - - - -');
    expect(m).toMatchObject({ format: 'rfc5424', pri: 13, structuredData: [], text: '' });
    for (const k of ['timestamp', 'hostname', 'appName', 'procId', 'msgId'] as const) expect(m[k]).toBeUndefined();
  });

  it('reads an untagged line (MSGID and SD nil) with its text', () => {
    const m = parse(
      '<30>1 2023-07-04T10:21:11.590+10:00 fw1 kmd 9812 - - IKE negotiation successfully completed. Role: Responder',
    );
    expect(m).toMatchObject({
      msgId: undefined,
      structuredData: [],
      text: 'IKE negotiation successfully completed. Role: Responder',
    });
  });

  it.each([
    ['escaped quote', String.raw`a\"b`, 'a"b'],
    ['escaped backslash', String.raw`EXAMPLE\\carol`, String.raw`EXAMPLE\carol`],
    ['escaped bracket', String.raw`ipv4_subnet(any:0,[0..7\]=0.0.0.0/0)`, 'ipv4_subnet(any:0,[0..7]=0.0.0.0/0)'],
    ['unescaped backslash (Junos)', String.raw`EXAMPLE\carol`, String.raw`EXAMPLE\carol`],
    ['backslash before a letter stays two chars', String.raw`a\nb`, String.raw`a\nb`],
    ['escaped backslash then quote', String.raw`x\\\"y`, String.raw`x\"y`],
    ['unescaped ] inside quotes', 'a]b', 'a]b'],
    ['", " inside a value', 'C=US, O=Example Corp, CN=erin', 'C=US, O=Example Corp, CN=erin'],
    ['empty value', '', ''],
    ['trailing space inside a value', 'ipv4(0,0-65535,10.20.0.43-10.20.0.43) ', 'ipv4(0,0-65535,10.20.0.43-10.20.0.43) '],
  ])('param value: %s', (_name, raw, value) => {
    const m = parse(`${HDR5424} [junos@2636.1.1.1.2.129 v="${raw}" after="ok"] text`);
    expect(m.structuredData).toEqual([{ id: 'junos@2636.1.1.1.2.129', params: { v: value, after: 'ok' } }]);
    expect(m.text).toBe('text');
  });

  it('accepts any junos SD-ID suffix', () => {
    for (const id of ['junos@2636.1.1.1.2.40', 'junos@2636.1.1.1.2.129', 'junos@1111.1.1.1.1.111', 'junos@2636']) {
      expect(parse(`${HDR5424} [${id} a="1"]`).structuredData).toEqual([{ id, params: { a: '1' } }]);
    }
  });

  it('brief form: SD then only a trailing space gives empty text', () => {
    expect(parse(`${HDR5424} [junos@2636.1.1.1.2.129 a="1"] `)).toMatchObject({
      text: '',
      structuredData: [{ params: { a: '1' } }],
    });
    expect(parse(`${HDR5424} [junos@2636.1.1.1.2.129 a="1"]`).text).toBe('');
  });

  it('removes a UTF-8 BOM before MSG, and only there', () => {
    const m = parse(bytes(`${HDR5424} - `, [0xef, 0xbb, 0xbf], 'VPN up'));
    expect(m.text).toBe('VPN up');
    expect(parse(bytes(`${HDR5424} - x`, [0xef, 0xbb, 0xbf])).text).toBe('x\uFEFF');
  });

  it('keeps the last value of a repeated param name', () => {
    expect(parse(`${HDR5424} [a@1 k="1" k="2"]`).structuredData).toEqual([{ id: 'a@1', params: { k: '2' } }]);
  });

  it('stores a param named __proto__ as data', () => {
    const [el] = parse(`${HDR5424} [a@1 __proto__="x" b="y"]`).structuredData;
    expect(Object.entries(el!.params)).toEqual([
      ['__proto__', 'x'],
      ['b', 'y'],
    ]);
  });

  it.each([
    [
      'unterminated value (cut line)',
      '[junos@2636 vpn-name="ra-vpn" aaa-username="EXAM',
      [],
      '[junos@2636 vpn-name="ra-vpn" aaa-username="EXAM',
    ],
    ['cut after a backslash', '[junos@2636 a="x\\', [], '[junos@2636 a="x\\'],
    ['unquoted value', '[a@1 x=1] text', [], '[a@1 x=1] text'],
    ['second element broken', '[a@1 x="1"][b@2 y] text', [{ id: 'a@1', params: { x: '1' } }], '[b@2 y] text'],
    ['missing ]', '[a@1 x="1" text', [], '[a@1 x="1" text'],
    ['empty SD-ID', '[ x="1"] text', [], '[ x="1"] text'],
    ['SD missing entirely', 'hello world', [], 'hello world'],
    ['text glued to the nil SD', '-hello', [], '-hello'],
    ['text glued to the SD', '[a@1 x="1"]hello', [{ id: 'a@1', params: { x: '1' } }], 'hello'],
  ])('malformed SD (%s): keeps complete elements, rest becomes text', (_name, rest, sd, text) => {
    const m = parse(`${HDR5424} ${rest}`);
    expect(m).toMatchObject({ format: 'rfc5424', msgId: 'KMD_VPN_UP_ALARM_USER', text });
    expect(m.structuredData).toEqual(sd);
  });

  it('tolerates extra spaces between SD params', () => {
    expect(parse(`${HDR5424} [a@1  x="1"  y="2" ] t`).structuredData).toEqual([{ id: 'a@1', params: { x: '1', y: '2' } }]);
  });

  it('a line cut inside the header keeps only the complete fields', () => {
    expect(parse('<30>1 2026-03-03T14:02:11Z srx1 ik')).toMatchObject({
      format: 'rfc5424',
      timestamp: '2026-03-03T14:02:11Z',
      hostname: 'srx1',
      appName: undefined,
      text: '',
    });
    expect(parse('<30>1 2026-03-03T14:02:11Z srx1 iked 20431 IKE_VPN_UP_AL').msgId).toBeUndefined();
  });
});

describe('parseSyslog: BSD and Junos variants', () => {
  const KMD = 'kmd[2183]: KMD_VPN_UP_ALARM_USER: ';

  it.each([
    ['day padded with two spaces', `<30>Mar  3 14:02:11 srx345-hq ${KMD}${UP_TEXT}`, { pri: 30, timestamp: 'Mar  3 14:02:11' }],
    ['day with one space', `<30>Mar 3 14:09:40 srx345-hq ${KMD}${UP_TEXT}`, { timestamp: 'Mar 3 14:09:40' }],
    ['two-digit day', `<30>Nov 28 11:24:02 srx345-hq ${KMD}${UP_TEXT}`, { timestamp: 'Nov 28 11:24:02' }],
    [
      'year and milliseconds',
      `<190>Mar  3 2026 15:47:52.418 srx345-hq ${KMD}${UP_TEXT}`,
      { pri: 190, timestamp: 'Mar  3 2026 15:47:52.418' },
    ],
    ['milliseconds only', `<30>Mar  3 15:47:52.418 srx345-hq ${KMD}${UP_TEXT}`, { timestamp: 'Mar  3 15:47:52.418' }],
    [
      'ISO timestamp (relay rewrite)',
      `<30>2026-03-03T14:02:11+01:00 srx345-hq ${KMD}${UP_TEXT}`,
      { timestamp: '2026-03-03T14:02:11+01:00' },
    ],
    ['local file copy: no PRI, two spaces after the time', `Mar  3 14:02:11  srx345-hq ${KMD}${UP_TEXT}`, { pri: undefined }],
    [
      'explicit priority',
      `<30>Mar  3 14:02:11 srx345-hq kmd[2183]: %DAEMON-6-KMD_VPN_UP_ALARM_USER: ${UP_TEXT}`,
      { timestamp: 'Mar  3 14:02:11' },
    ],
    ['FQDN host', `<30>Mar  3 14:02:11 fw01.branch.example.com ${KMD}${UP_TEXT}`, { hostname: 'fw01.branch.example.com' }],
  ])('%s', (_name, line, extra) => {
    expect(parse(line)).toEqual({
      format: 'rfc3164',
      pri: 30,
      timestamp: 'Mar  3 14:02:11',
      hostname: 'srx345-hq',
      appName: 'kmd',
      procId: '2183',
      msgId: 'KMD_VPN_UP_ALARM_USER',
      structuredData: [],
      text: UP_TEXT,
      ...extra,
    });
  });

  it('high-end prefix: (FPC Slot, PIC Slot) and the SPU component before the process', () => {
    const m = parse(
      `<30>Mar  3 14:02:11 srx5800-dc1 (FPC Slot 3, PIC Slot 0) SPC3_PIC0 kmd[2150]: KMD_VPN_UP_ALARM_USER: ${UP_TEXT}`,
    );
    expect(m).toMatchObject({
      hostname: 'srx5800-dc1',
      appName: 'kmd',
      procId: '2150',
      msgId: 'KMD_VPN_UP_ALARM_USER',
      text: UP_TEXT,
    });
  });

  it('PFE line: FPC prefix then a tag, no process', () => {
    const m = parse(
      '<158>May 4 05:16:01 fw-dc (FPC Slot 1, PIC Slot 1) PFE_FW_SYSLOG_IP: FW: st0.1 A pim 192.0.2.1 (1 packets) ',
    );
    expect(m).toMatchObject({
      pri: 158,
      hostname: 'fw-dc',
      appName: undefined,
      msgId: 'PFE_FW_SYSLOG_IP',
      text: 'FW: st0.1 A pim 192.0.2.1 (1 packets) ',
    });
  });

  it('show-log copy that starts with just a time (two spaces before the tag)', () => {
    expect(parse('19:13:59  IKE_VPN_DOWN_ALARM_USER: VPN waw-1 from 192.0.2.9 is down. Reason: DPD')).toEqual({
      format: 'rfc3164',
      pri: undefined,
      timestamp: '19:13:59',
      hostname: undefined,
      appName: undefined,
      procId: undefined,
      msgId: 'IKE_VPN_DOWN_ALARM_USER',
      structuredData: [],
      text: 'VPN waw-1 from 192.0.2.9 is down. Reason: DPD',
    });
  });

  it('host process[pid]: with no time and no PRI', () => {
    expect(parse(`vsrx-p4 iked[17437]: IKE_VPN_UP_ALARM_USER: ${UP_TEXT}`)).toMatchObject({
      format: 'rfc3164',
      timestamp: undefined,
      hostname: 'vsrx-p4',
      appName: 'iked',
      procId: '17437',
      msgId: 'IKE_VPN_UP_ALARM_USER',
      text: UP_TEXT,
    });
  });

  it('process without pid', () => {
    expect(parse(`<30>Mar  3 14:02:11 srx1 kmd: KMD_VPN_UP_ALARM_USER: ${UP_TEXT}`)).toMatchObject({
      hostname: 'srx1',
      appName: 'kmd',
      procId: undefined,
      msgId: 'KMD_VPN_UP_ALARM_USER',
    });
  });

  it('process without host', () => {
    expect(parse(`<30>Mar  3 14:02:11 kmd[7]: KMD_VPN_UP_ALARM_USER: x`)).toMatchObject({
      hostname: undefined,
      appName: 'kmd',
      procId: '7',
      text: 'x',
    });
  });

  it('untagged text: msgId undefined, text is everything after "kmd[123]: "', () => {
    const text = 'IKE negotiation successfully completed. IKE Version: 2, VPN: JSC-VPN Gateway: JSC-GW, Role: Responder';
    expect(parse(`<30>Mar  3 14:58:02 srx345-hq kmd[123]: ${text}`)).toMatchObject({
      appName: 'kmd',
      procId: '123',
      msgId: undefined,
      text,
    });
  });

  it('a tag needs an upper-case identifier of two or more chars and a colon', () => {
    expect(parse('<30>Mar  3 14:02:11 srx1 kmd[1]: X: y').msgId).toBeUndefined();
    expect(parse('<30>Mar  3 14:02:11 srx1 kmd[1]: Kmd_TAG: y').msgId).toBeUndefined();
    expect(parse('<30>Mar  3 14:02:11 srx1 kmd[1]: KMD_TAG:y').msgId).toBeUndefined();
    expect(parse('<30>Mar  3 14:02:11 srx1 kmd[1]: KMD_TAG:')).toMatchObject({ msgId: 'KMD_TAG', text: '' });
  });

  it('IPv6 hostname is not mistaken for a process', () => {
    expect(parse('<30>Mar  3 14:02:11 2001:db8::1 kmd[1]: KMD_TAG: x')).toMatchObject({
      hostname: '2001:db8::1',
      appName: 'kmd',
    });
  });

  it('a timestamped line without process or tag keeps host and text', () => {
    expect(parse('<30>Mar  3 14:02:11 srx1 free text here')).toMatchObject({
      format: 'rfc3164',
      hostname: 'srx1',
      appName: undefined,
      text: 'free text here',
    });
  });

  it.each([
    [
      'cut inside the tag',
      '<30>Mar  3 14:02:11 srx1 kmd[2183]: KMD_VPN_UP_AL',
      { appName: 'kmd', msgId: undefined, text: 'KMD_VPN_UP_AL' },
    ],
    ['cut inside the pid', '<30>Mar  3 14:02:11 srx1 kmd[21', { hostname: 'srx1', appName: undefined, text: 'kmd[21' }],
    [
      'cut after the time and its space',
      '<30>Mar  3 14:02:11 ',
      { format: 'rfc3164', timestamp: 'Mar  3 14:02:11', hostname: undefined, text: '' },
    ],
  ])('truncated line (%s) yields no wrong field', (_name, line, expected) => {
    expect(parse(line)).toMatchObject(expected);
  });
});

describe('parseSyslog: unknown input', () => {
  it.each([
    ['empty', ''],
    ['free text', 'hello world'],
    ['PRI then garbage', '<30>garbage'],
    ['PRI out of range', '<999>Mar  3 14:02:11 srx1 kmd[1]: TAG: x'],
    ['cut inside the time', '<30>Mar  3 14:02:1'],
    ['cut at the end of the time (milliseconds may be missing)', '<30>Mar  3 2026 15:47:52.4'],
    ['continuation piece of a split message', '\x14\x1e(, Remote IKE-ID: 198.51.100.5, AAA username: Not-Applicable'],
  ])('%s → format unknown, text is the whole line', (_name, line) => {
    expect(parse(line)).toEqual({
      format: 'unknown',
      pri: undefined,
      timestamp: undefined,
      hostname: undefined,
      appName: undefined,
      procId: undefined,
      msgId: undefined,
      structuredData: [],
      text: line,
    });
  });
});

describe('parseSyslog: bytes and text decoding', () => {
  const head = '<30>Mar  3 14:20:00 srx345-hq kmd[2183]: KMD_VPN_UP_ALARM_USER: Local IKE-ID: ';

  it('keeps raw CR, LF, and valid UTF-8 (0D 0A CA A6) inside the text', () => {
    const m = parse(bytes(head, [0x0d, 0x0a, 0xca, 0xa6], ', Remote IKE-ID: 198.51.100.5'));
    expect(m.msgId).toBe('KMD_VPN_UP_ALARM_USER');
    expect(m.text).toBe('Local IKE-ID: \r\n\u02a6, Remote IKE-ID: 198.51.100.5');
  });

  it('maps each byte of invalid UTF-8 to U+00XX, so the bytes can be recovered', () => {
    const raw = [0x0a, 0x14, 0x1e, 0xca, 0xff, 0x00, 0x80];
    const m = parse(bytes(head, raw, ', Remote IKE-ID: x'));
    expect(m.text).toBe('Local IKE-ID: \n\x14\x1e\u00ca\u00ff\u0000\u0080, Remote IKE-ID: x');
    expect(Buffer.from(m.text, 'latin1')).toEqual(bytes('Local IKE-ID: ', raw, ', Remote IKE-ID: x'));
  });

  it('strips trailing CR/LF but not inner ones', () => {
    expect(parse(`${head}a\r\nb\r\n`).text).toBe('Local IKE-ID: a\r\nb');
    expect(parse(`${head}a\n`).text).toBe('Local IKE-ID: a');
    expect(parseSyslogLine(`${head}a\r\n`).text).toBe('Local IKE-ID: a');
  });

  it.each([
    ['overlong encoding', [0xc0, 0x80], '\u00c0\u0080'],
    ['UTF-16 surrogate', [0xed, 0xa0, 0x80], '\u00ed\u00a0\u0080'],
    ['sequence cut at the end', [0x41, 0xe2, 0x82], 'A\u00e2\u0082'],
    ['sequence cut by ASCII', [0xe2, 0x82, 0x41], '\u00e2\u0082A'],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80], '\u00f4\u0090\u0080\u0080'],
    ['valid 4-byte next to invalid', [0xf0, 0x9f, 0x98, 0x80, 0xfe], '\u{1f600}\u00fe'],
    ['valid 2- and 3-byte', [0xc3, 0xa9, 0xe2, 0x82, 0xac], 'é€'],
    ['BOM is kept by the decoder', [0xef, 0xbb, 0xbf, 0x41], '\uFEFFA'],
  ])('decodeSyslogText: %s', (_name, raw, expected) => {
    expect(decodeSyslogText(Buffer.from(raw))).toBe(expected);
  });

  it('decodeSyslogText accepts a plain Uint8Array view', () => {
    const backing = new Uint8Array([0x78, 0x41, 0xff, 0x78]);
    expect(decodeSyslogText(backing.subarray(1, 3))).toBe('A\u00ff');
  });
});

describe('parseSyslog: headers misread by a relay (captured from rsyslog 8.2302 and syslog-ng 3.38)', () => {
  const cases: [string, string, Record<string, string>][] = [
    [
      'rsyslog RFC 5424 of an SRX5k line: `(FPC` taken as APP-NAME',
      '<30>1 2026-03-03T14:02:11+00:00 srx5800-dc1 (FPC - - -  Slot 3, PIC Slot 0) SPC3_PIC0 kmd[2150]: KMD_VPN_UP_ALARM_USER: VPN RA-VPN from 198.51.100.23 is up.',
      {
        hostname: 'srx5800-dc1',
        appName: 'kmd',
        procId: '2150',
        msgId: 'KMD_VPN_UP_ALARM_USER',
        text: 'VPN RA-VPN from 198.51.100.23 is up.',
      },
    ],
    [
      'syslog-ng network() of a time-format-year line: hostname `localhost`, the Junos header in MSG',
      '<190>Nov 30 06:48:05 localhost Mar  3 2026 15:47:52.418 srx345-hq kmd[2183]: KMD_VPN_DOWN_ALARM_USER: VPN JSC-VPN is down.',
      { hostname: 'srx345-hq', appName: 'kmd', procId: '2183', msgId: 'KMD_VPN_DOWN_ALARM_USER', text: 'VPN JSC-VPN is down.' },
    ],
    [
      'syslog-ng syslog() of a time-format-year line: program `Mar`',
      '<190>1 2026-11-30T06:48:06+00:00 localhost Mar - - -  3 2026 15:47:52.418 srx345-hq kmd[2183]: KMD_VPN_DOWN_ALARM_USER: VPN JSC-VPN is down.',
      { hostname: 'srx345-hq', appName: 'kmd', procId: '2183', msgId: 'KMD_VPN_DOWN_ALARM_USER', text: 'VPN JSC-VPN is down.' },
    ],
  ];
  it.each(cases)('%s', (_name, line, want) => {
    expect(parseSyslog(Buffer.from(line))).toMatchObject(want);
  });
});
