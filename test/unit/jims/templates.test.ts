import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pushSchema, type PushConfig } from '../../../src/config/schema.js';
import { PtimError } from '../../../src/errors.js';
import {
  compileTemplates,
  escapeValue,
  eventFields,
  formatTimestamp,
  unescapeValue,
  type BodyEncoding,
} from '../../../src/jims/templates.js';
import type { IdentityEvent } from '../../../src/types.js';

const AT = Date.UTC(2026, 0, 15, 12, 30, 45, 123);

function ev(over: Partial<IdentityEvent> = {}): IdentityEvent {
  return {
    kind: 'connect',
    ip: '192.0.2.10',
    user: 'alice',
    domain: 'example.com',
    seq: 7,
    firewall: 'srx-1',
    vpn: 'ra-vpn',
    gateway: 'gw-1',
    peerIp: '198.51.100.20',
    at: AT,
    receivedAt: AT - 5,
    correlationId: 'c-1',
    ...over,
  };
}

const push = (over: Partial<Record<string, unknown>> = {}): PushConfig => pushSchema.parse(over);
const noFiles = (p: string): string => {
  throw new Error(`ENOENT: no such file ${p}`);
};
const files =
  (map: Record<string, string>) =>
  (p: string): string => {
    const v = map[p];
    if (v === undefined) throw new Error(`ENOENT: ${p}`);
    return v;
  };

describe('built-in templates', () => {
  it('userfw-xml renders the SRX Web API entry with operation from the map', () => {
    const t = compileTemplates(push(), noFiles);
    const r = t.render(ev());
    expect(r.contentType).toBe('application/xml');
    expect(r.body).toContain('<userfw-entries>');
    expect(r.body).toContain('<source>Juniper Secure Connect</source>');
    expect(r.body).toContain('<timestamp>2026-01-15T12:30:45.123Z</timestamp>');
    expect(r.body).toContain('<operation>logon</operation>');
    expect(r.body).toContain('<IP>192.0.2.10</IP>');
    expect(r.body).toContain('<domain>example.com</domain>');
    expect(r.body).toContain('<user>alice</user>');
    expect(t.render(ev({ kind: 'disconnect' })).body).toContain('<operation>logoff</operation>');
    expect(t.render(ev({ kind: 'rekey' })).body).toContain('<operation>logon</operation>');
  });

  it('userfw-json renders valid JSON with the same fields', () => {
    const t = compileTemplates(push({ template: 'userfw-json' }), noFiles);
    const r = t.render(ev({ user: 'a"b\\c', ip: '2001:db8::1' }));
    expect(r.contentType).toBe('application/json');
    const entry = (JSON.parse(r.body) as { 'userfw-entries': { 'userfw-entry': Record<string, string>[] } })['userfw-entries'][
      'userfw-entry'
    ][0];
    expect(entry).toEqual({
      source: 'Juniper Secure Connect',
      timestamp: '2026-01-15T12:30:45.123Z',
      operation: 'logon',
      IP: '2001:db8::1',
      domain: 'example.com',
      user: 'a"b\\c',
    });
  });

  it('operationMap and source settings are honoured', () => {
    const t = compileTemplates(
      push({ operationMap: { connect: 'add', rekey: 'refresh', disconnect: 'remove' }, source: 'bridge' }),
      noFiles,
    );
    expect(t.render(ev({ kind: 'rekey' })).body).toContain('<operation>refresh</operation>');
    expect(t.render(ev()).body).toContain('<source>bridge</source>');
  });
});

describe('escaping per content type', () => {
  const nasty = `<&"'>`;
  it('XML uses entities', () => {
    expect(escapeValue(nasty, 'xml')).toBe('&lt;&amp;&quot;&apos;&gt;');
  });
  it('JSON uses string escapes', () => {
    expect(escapeValue(`${nasty}\\\n`, 'json')).toBe(`<&\\"'>\\\\\\n`);
  });
  it('form uses percent-encoding', () => {
    expect(escapeValue(`${nasty} +=`, 'form')).toBe("%3C%26%22'%3E%20%2B%3D");
  });
  it('unicode passes through XML and JSON and is UTF-8 percent-encoded in forms', () => {
    expect(escapeValue('Jürgen 山田 😀', 'xml')).toBe('Jürgen 山田 😀');
    expect(escapeValue('Jürgen 山田 😀', 'json')).toBe('Jürgen 山田 😀');
    expect(escapeValue('ü', 'form')).toBe('%C3%BC');
  });
  it('characters XML cannot carry and lone surrogates become U+FFFD instead of breaking the body', () => {
    expect(escapeValue('a\u0001b', 'xml')).toBe('a\uFFFDb');
    expect(escapeValue('a\uD800b', 'form')).toBe('a%EF%BF%BDb');
  });
  it('a rendered file template escapes each value for its own content type', () => {
    const t = compileTemplates(
      push({ template: '/t/push.txt' }),
      files({ '/t/push.txt': 'u={{user}}&d={{domain}}&op={{operation}}' }),
    );
    const r = t.render(ev({ user: 'a&b=c d' }));
    expect(r.contentType).toBe('application/x-www-form-urlencoded');
    expect(r.body).toBe('u=a%26b%3Dc%20d&d=example.com&op=logon');
  });
});

describe('timestamps', () => {
  it.each([
    ['iso', '2026-01-15T12:30:45.123Z'],
    ['epoch-s', String(Math.floor(AT / 1000))],
    ['epoch-ms', String(AT)],
  ] as const)('%s', (fmt, out) => {
    expect(formatTimestamp(AT, fmt)).toBe(out);
  });
});

describe('validation at start', () => {
  it('lists every unknown placeholder and unreadable file at once', () => {
    const read = files({ '/t/a.xml': '<x>{{user}}{{usr}}</x>\n<y>{{ nope }}</y>' });
    let err: unknown;
    try {
      compileTemplates(push({ template: '/t/a.xml', templates: { disconnect: '/t/missing.json', rekey: '/t/b.yaml' } }), read);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PtimError);
    const pe = err as PtimError;
    expect(pe.code).toBe('PTIM_ERR_TEMPLATE');
    const msgs = pe.problems.map((p) => `${p.source ?? ''} ${p.line ?? ''} ${p.message}`);
    expect(msgs.some((m) => m.includes('{{usr}}') && m.includes('/t/a.xml 1'))).toBe(true);
    expect(msgs.some((m) => m.includes('{{nope}}') && m.includes('/t/a.xml 2'))).toBe(true);
    expect(msgs.some((m) => m.includes('/t/missing.json') && m.includes('cannot read'))).toBe(true);
    expect(msgs.some((m) => m.includes('/t/b.yaml') && m.includes('extension'))).toBe(true);
  });

  it('per-event overrides pick their own template and content type', () => {
    const t = compileTemplates(
      push({ templates: { disconnect: '/t/off.json' } }),
      files({ '/t/off.json': '{"logoff":"{{ip}}","u":"{{user}}"}' }),
    );
    expect(t.render(ev({ kind: 'disconnect' }))).toEqual({
      body: '{"logoff":"192.0.2.10","u":"alice"}',
      contentType: 'application/json',
    });
    expect(t.render(ev()).contentType).toBe('application/xml');
  });
});

describe('parse (the simulator side)', () => {
  it('reads back fields and tolerates re-indented XML', () => {
    const t = compileTemplates(push(), noFiles);
    const body = t.render(ev({ user: "o'neil & <co>" })).body.replace(/\n\s*/g, '\n\t\t');
    const p = t.parse(body);
    expect(p?.fields).toMatchObject({ user: "o'neil & <co>", ip: '192.0.2.10', operation: 'logon', domain: 'example.com' });
  });

  it('the XML declaration is optional when parsing', () => {
    const t = compileTemplates(push(), noFiles);
    const body = t.render(ev()).body.replace(/^<\?xml[^>]*>\s*/, '');
    expect(body.startsWith('<userfw-entries>')).toBe(true);
    expect(t.parse(body)?.fields.user).toBe('alice');
  });

  it('a body of another shape does not parse', () => {
    const t = compileTemplates(push(), noFiles);
    expect(t.parse('<userfw-entries><garbage/></userfw-entries>')).toBeUndefined();
    expect(t.parse('')).toBeUndefined();
    expect(t.parse('<user>a<b</user>')).toBeUndefined();
  });

  it('identifies the per-event template when the body carries no operation', () => {
    const read = files({ '/t/on.json': '{"on":"{{ip}}","u":"{{user}}"}', '/t/off.json': '{"off":"{{ip}}","u":"{{user}}"}' });
    const t = compileTemplates(push({ template: '/t/on.json', templates: { disconnect: '/t/off.json' } }), read);
    expect(t.parse(t.render(ev({ kind: 'disconnect' })).body)?.templateKind).toBe('disconnect');
    expect(t.parse(t.render(ev()).body)?.templateKind).toBe('connect');
  });

  it('unescapeValue rejects broken escapes', () => {
    expect(unescapeValue('a&b', 'xml')).toBeUndefined();
    expect(unescapeValue('a&bogus;', 'xml')).toBeUndefined();
    expect(unescapeValue('\\x', 'json')).toBeUndefined();
    expect(unescapeValue('%E0%A4%A', 'form')).toBeUndefined();
    expect(unescapeValue('&#x41;&#66;', 'xml')).toBe('AB');
  });
});

describe('render → parse round trip (property)', () => {
  // Strings a user, domain or context field can hold; XML-invalid controls and lone surrogates are
  // replaced on purpose (tested above), so they are left out here.
  const safeChar = fc
    .oneof(
      fc.constantFrom('<', '>', '&', '"', "'", '\\', '/', '=', '+', '%', ' ', '\t', '{', '}', '\n', 'ü', '山', '😀'),
      fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme' }),
    )
    // eslint-disable-next-line no-control-regex
    .filter((c) => !/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(c));
  const value = fc.array(safeChar, { maxLength: 12 }).map((a) => a.join(''));

  const templatesFor: Record<BodyEncoding, PushConfig> = {
    xml: push(),
    json: push({ template: 'userfw-json' }),
    form: push({ template: '/t/p.form' }),
  };
  const read = files({
    '/t/p.form':
      'user={{user}}&domain={{domain}}&ip={{ip}}&op={{operation}}&ev={{event}}&fw={{firewall}}&vpn={{vpn}}&seq={{seq}}&r={{reason}}',
  });

  it.each(['xml', 'json', 'form'] as const)('%s', (enc) => {
    const t = compileTemplates(templatesFor[enc], read);
    fc.assert(
      fc.property(
        value,
        value,
        value,
        value,
        fc.constantFrom('connect', 'rekey', 'disconnect' as const),
        (user, domain, fw, vpn, kind) => {
          const e = ev({ user, domain, firewall: fw, vpn, kind, reason: kind === 'disconnect' ? 'down' : undefined });
          // XML bodies travel as UTF-8 text: what the simulator reads is exactly what was rendered.
          const p = t.parse(t.render(e).body);
          expect(p).toBeDefined();
          expect(p?.fields.user).toBe(user);
          expect(p?.fields.domain).toBe(domain);
          expect(p?.fields.ip).toBe(e.ip);
          expect(p?.fields.operation).toBe(templatesFor[enc].operationMap[kind]);
          if (enc === 'form') {
            expect(p?.fields.firewall).toBe(fw);
            expect(p?.fields.vpn).toBe(vpn);
            expect(p?.fields.event).toBe(kind);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('templates that carry a list of entries', () => {
  const three = [
    ev({ ip: '192.0.2.1', user: 'a' }),
    ev({ ip: '192.0.2.2', user: 'b', kind: 'disconnect' }),
    ev({ ip: '2001:db8::3', user: 'c' }),
  ];

  it.each(['userfw-xml', 'userfw-json'])(
    '%s renders one body for many events and parses every entry back, in order',
    (template) => {
      const t = compileTemplates(push({ template }), noFiles);
      const c = t.byKind.connect;
      expect(c.carriesList).toBe(true);
      // One event renders exactly as a one-entry list.
      expect(c.wrap([c.renderEntry(eventFields(three[0]!, push({ template })))])).toBe(t.render(three[0]!).body);
      const body = c.wrap(three.map((e) => c.renderEntry(eventFields(e, push({ template })))));
      if (template === 'userfw-json') {
        const doc = JSON.parse(body) as { 'userfw-entries': { 'userfw-entry': { IP: string }[] } };
        expect(doc['userfw-entries']['userfw-entry'].map((e) => e.IP)).toEqual(['192.0.2.1', '192.0.2.2', '2001:db8::3']);
      } else {
        expect(body.match(/<userfw-entry>/g)).toHaveLength(3);
      }
      const entries = t.parseEntries(body.replace(/\n\s*/g, '\n\t'));
      expect(entries?.map((e) => [e.fields.ip, e.fields.user, e.fields.operation])).toEqual([
        ['192.0.2.1', 'a', 'logon'],
        ['192.0.2.2', 'b', 'logoff'],
        ['2001:db8::3', 'c', 'logon'],
      ]);
      // A one-entry body still parses as a single body.
      expect(t.parse(t.render(three[1]!).body)?.fields.user).toBe('b');
      expect(t.parse(body)).toBeUndefined();
    },
  );

  it('a template without the section carries one event per body', () => {
    const t = compileTemplates(push({ template: '/t/one.json' }), files({ '/t/one.json': '{"ip":"{{ip}}","u":"{{user}}"}' }));
    expect(t.byKind.connect.carriesList).toBe(false);
    expect(t.parseEntries(t.render(ev()).body)?.map((e) => e.fields.ip)).toEqual(['192.0.2.10']);
  });

  it('refuses an unpaired section, placeholders outside it and a list in a form body, all at once', () => {
    const read = files({
      '/t/open.json': '[{{#entries}}{"ip":"{{ip}}"}]',
      '/t/outside.xml': '<a src="{{source}}">{{#entries}}<e>{{ip}}</e>{{/entries}}</a>',
      '/t/list.form': '{{#entries}}ip={{ip}}{{/entries}}',
    });
    try {
      compileTemplates(
        push({ template: '/t/open.json', templates: { rekey: '/t/outside.xml', disconnect: '/t/list.form' } }),
        read,
      );
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PtimError);
      const messages = (e as PtimError).problems.map((p) => `${p.source}: ${p.message}`);
      expect(messages).toEqual([
        '/t/open.json: {{#entries}} and {{/entries}} must come as a pair, in this order',
        '/t/outside.xml: placeholders belong inside {{#entries}}…{{/entries}}',
        '/t/list.form: a form body cannot carry a list of entries',
      ]);
    }
  });
});
