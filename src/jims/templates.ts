// Push body templates: render an IdentityEvent into the PTIM request body, and (for the simulator)
// parse such a body back into its fields. The exact PTIM body is not public, so the body is a
// template: a built-in (SRX Web API `userfw-entries`, XML or JSON) or an operator's file.
//
// A template carries a list when it marks its repeated part `{{#entries}}…{{/entries}}`: one
// request then holds several events (entries joined by `,` in JSON, back to back in XML). The
// built-ins do; `jims.push.maxEntriesPerRequest` bounds how many.
import { extname } from 'node:path';
import type { PushConfig } from '../config/schema.js';
import { PtimError, type Problem } from '../errors.js';
import type { IdentityEvent, IdentityEventKind } from '../types.js';

export const PLACEHOLDERS = [
  'user',
  'domain',
  'ip',
  'operation',
  'event',
  'timestamp',
  'source',
  'firewall',
  'vpn',
  'gateway',
  'peerIp',
  'seq',
  'reason',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

export type BodyEncoding = 'xml' | 'json' | 'form';

export const CONTENT_TYPES: Readonly<Record<BodyEncoding, string>> = {
  xml: 'application/xml',
  json: 'application/json',
  form: 'application/x-www-form-urlencoded',
};

/** Template file extension → how values are escaped and which Content-Type is sent. */
export const EXTENSION_ENCODINGS: Readonly<Record<string, BodyEncoding>> = {
  '.xml': 'xml',
  '.json': 'json',
  '.txt': 'form',
  '.form': 'form',
};

const USERFW_XML =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<userfw-entries>\n' +
  '{{#entries}}  <userfw-entry>\n' +
  '    <source>{{source}}</source>\n' +
  '    <timestamp>{{timestamp}}</timestamp>\n' +
  '    <operation>{{operation}}</operation>\n' +
  '    <IP>{{ip}}</IP>\n' +
  '    <domain>{{domain}}</domain>\n' +
  '    <user>{{user}}</user>\n' +
  '  </userfw-entry>\n{{/entries}}' +
  '</userfw-entries>\n';

const USERFW_JSON =
  '{"userfw-entries":{"userfw-entry":[{{#entries}}{"source":"{{source}}","timestamp":"{{timestamp}}",' +
  '"operation":"{{operation}}","IP":"{{ip}}","domain":"{{domain}}","user":"{{user}}"}{{/entries}}]}}';

export const BUILTIN_TEMPLATES: Readonly<Record<string, { text: string; encoding: BodyEncoding }>> = {
  'userfw-xml': { text: USERFW_XML, encoding: 'xml' },
  'userfw-json': { text: USERFW_JSON, encoding: 'json' },
};

const PLACEHOLDER_RE = /\{\{\s*([^{}]*?)\s*\}\}/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// Characters XML 1.0 cannot carry at all, not even as character references.
// eslint-disable-next-line no-control-regex
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

export function escapeValue(value: string, encoding: BodyEncoding): string {
  const v = wellFormed(value);
  switch (encoding) {
    case 'xml':
      return v
        .replace(XML_INVALID, '\uFFFD')
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/"/g, '&quot;')
        .replace(/'/g, '&apos;');
    case 'json':
      // The placeholder sits inside a JSON string literal in the template.
      return JSON.stringify(v).slice(1, -1);
    case 'form':
      return encodeURIComponent(v);
  }
}

const XML_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Inverse of escapeValue; undefined when the text is not a valid escaped value. */
export function unescapeValue(text: string, encoding: BodyEncoding): string | undefined {
  try {
    switch (encoding) {
      case 'xml': {
        let bad = false;
        const out = text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);|&/g, (m, ent: string | undefined) => {
          if (ent === undefined) {
            bad = true;
            return m;
          }
          if (ent.startsWith('#x')) return String.fromCodePoint(parseInt(ent.slice(2), 16));
          if (ent.startsWith('#')) return String.fromCodePoint(parseInt(ent.slice(1), 10));
          const r = XML_ENTITIES[ent];
          if (r === undefined) bad = true;
          return r ?? m;
        });
        return bad || text.includes('<') ? undefined : out;
      }
      case 'json': {
        const v: unknown = JSON.parse(`"${text}"`);
        return typeof v === 'string' ? v : undefined;
      }
      case 'form':
        return decodeURIComponent(text.replace(/\+/g, ' '));
    }
  } catch {
    return undefined;
  }
}

export function formatTimestamp(atMs: number, format: PushConfig['timestampFormat']): string {
  switch (format) {
    case 'iso':
      return new Date(atMs).toISOString();
    case 'epoch-s':
      return String(Math.floor(atMs / 1000));
    case 'epoch-ms':
      return String(Math.floor(atMs));
  }
}

/** The placeholder values of one event (before escaping). */
export function eventFields(event: IdentityEvent, push: PushConfig): Record<Placeholder, string> {
  return {
    user: event.user,
    domain: event.domain,
    ip: event.ip,
    operation: push.operationMap[event.kind],
    event: event.kind,
    timestamp: formatTimestamp(event.at, push.timestampFormat),
    source: push.source,
    firewall: event.firewall,
    vpn: event.vpn ?? '',
    gateway: event.gateway ?? '',
    peerIp: event.peerIp ?? '',
    seq: String(event.seq),
    reason: event.reason ?? '',
  };
}

type Part = { literal: string } | { placeholder: Placeholder };

/** One template, parsed once at start. */
export interface CompiledTemplate {
  /** Built-in name or file path, for messages. */
  readonly name: string;
  readonly encoding: BodyEncoding;
  readonly contentType: string;
  readonly placeholders: readonly Placeholder[];
  /** True when the template marks a repeated part (`{{#entries}}…{{/entries}}`): one body can carry many events. */
  readonly carriesList: boolean;
  /** The body of one event. */
  render(fields: Readonly<Record<Placeholder, string>>): string;
  /** One entry (the repeated part; the whole body when the template carries no list). */
  renderEntry(fields: Readonly<Record<Placeholder, string>>): string;
  /** The body around rendered entries (exactly one unless `carriesList`). */
  wrap(entries: readonly string[]): string;
  /** Fields found in a body produced by this template, or undefined when the body does not fit it. */
  parse(body: string): Partial<Record<Placeholder, string>> | undefined;
  /** The fields of every entry of a body, in order, or undefined when the body does not fit it. */
  parseEntries(body: string): Partial<Record<Placeholder, string>>[] | undefined;
}

export interface RenderedBody {
  readonly body: string;
  readonly contentType: string;
}

export interface ParsedBody {
  /** The template (event kind) whose shape the body has. */
  readonly templateKind: IdentityEventKind;
  readonly fields: Partial<Record<Placeholder, string>>;
}

export interface CompiledTemplates {
  readonly byKind: Readonly<Record<IdentityEventKind, CompiledTemplate>>;
  render(event: IdentityEvent): RenderedBody;
  /** Tries the connect, rekey and disconnect templates in turn. */
  parse(body: string): ParsedBody | undefined;
  /** The same for a body that may carry several entries: every entry, in order. */
  parseEntries(body: string): ParsedBody[] | undefined;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const SECTION_OPEN = /\{\{\s*#entries\s*\}\}/;
const SECTION_CLOSE = /\{\{\s*\/entries\s*\}\}/;
/** What joins the entries of a list, per encoding (a form body cannot carry a list). */
const LIST_SEPARATORS: Readonly<Record<BodyEncoding, string | undefined>> = { json: ',', xml: '', form: undefined };

/** The text before, inside and after the `{{#entries}}` section; no section: all of it is the entry. */
function splitSection(
  text: string,
  encoding: BodyEncoding,
  source: string,
  problems: Problem[],
): { before: string; entry: string; after: string; list: boolean } {
  const open = SECTION_OPEN.exec(text);
  const close = SECTION_CLOSE.exec(text);
  if (!open && !close) return { before: '', entry: text, after: '', list: false };
  const lineOf = (i: number) => text.slice(0, i).split('\n').length;
  if (!open || !close || close.index < open.index) {
    const at = (open ?? close) as RegExpExecArray;
    problems.push({
      source,
      line: lineOf(at.index),
      message: '{{#entries}} and {{/entries}} must come as a pair, in this order',
    });
    return { before: '', entry: text.replace(SECTION_OPEN, '').replace(SECTION_CLOSE, ''), after: '', list: false };
  }
  if (LIST_SEPARATORS[encoding] === undefined) {
    problems.push({ source, line: lineOf(open.index), message: `a ${encoding} body cannot carry a list of entries` });
  }
  const before = text.slice(0, open.index);
  const after = text.slice(close.index + close[0].length);
  if (PLACEHOLDER_RE.test(before) || PLACEHOLDER_RE.test(after)) {
    problems.push({ source, line: lineOf(open.index), message: 'placeholders belong inside {{#entries}}…{{/entries}}' });
  }
  PLACEHOLDER_RE.lastIndex = 0;
  return { before, entry: text.slice(open.index + open[0].length, close.index), after, list: true };
}

/** Literal text and placeholders of an entry, reporting unknown placeholders. */
function entryParts(text: string, offsetLine: number, source: string, problems: Problem[]): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER_RE)) {
    const idx = m.index;
    const key = m[1] ?? '';
    if (idx > last) parts.push({ literal: text.slice(last, idx) });
    if ((PLACEHOLDERS as readonly string[]).includes(key)) parts.push({ placeholder: key as Placeholder });
    else {
      const line = offsetLine + text.slice(0, idx).split('\n').length - 1;
      problems.push({
        source,
        line,
        message: `unknown placeholder {{${key}}} (known: ${PLACEHOLDERS.join(', ')})`,
      });
      parts.push({ literal: m[0] });
    }
    last = idx + m[0].length;
  }
  if (last < text.length) parts.push({ literal: text.slice(last) });
  return parts;
}

/**
 * A regex source for literal template text. Runs of whitespace match any whitespace, to survive
 * pretty-printing; the XML declaration (at the very start) is optional, as it is in XML.
 */
function literalSource(literal: string, atStart: boolean, encoding: BodyEncoding): string {
  let out = '';
  let rest = literal;
  const decl = atStart && encoding === 'xml' ? /^\s*<\?xml[^?]*\?>/.exec(rest) : null;
  if (decl) {
    out += '(?:<\\?xml[^?]*\\?>)?\\s*';
    rest = rest.slice(decl[0].length);
  }
  return out + rest.split(/\s+/).map(escapeRegex).join('\\s*');
}

/**
 * Parsing an entry: a regex with one capture per placeholder. Escaped values can never contain
 * the delimiters that follow them (`<`, an unescaped `"`, `&`), so lazy captures end in the right place.
 */
function entryMatcher(parts: readonly Part[], atStart: boolean, encoding: BodyEncoding) {
  const seen = new Map<Placeholder, string>();
  let source = '';
  let group = 0;
  for (const [i, p] of parts.entries()) {
    if ('literal' in p) source += literalSource(p.literal, atStart && i === 0, encoding);
    else {
      const prior = seen.get(p.placeholder);
      if (prior) source += `\\k<${prior}>`;
      else {
        const g = `g${group++}`;
        seen.set(p.placeholder, g);
        source += `(?<${g}>[\\s\\S]*?)`;
      }
    }
  }
  const read = (groups: Record<string, string | undefined>): Partial<Record<Placeholder, string>> | undefined => {
    const out: Partial<Record<Placeholder, string>> = {};
    for (const [ph, g] of seen) {
      const raw = groups[g];
      if (raw === undefined) return undefined;
      const v = unescapeValue(raw, encoding);
      if (v === undefined) return undefined;
      out[ph] = v;
    }
    return out;
  };
  return { source, placeholders: [...seen.keys()], read };
}

/** Reads the entries of a list body's middle part: entry (separator entry)*, whitespace anywhere between. */
function readEntries(
  middle: string,
  entry: ReturnType<typeof entryMatcher>,
  separator: string,
): Partial<Record<Placeholder, string>>[] | undefined {
  const one = new RegExp(`\\s*${entry.source}\\s*`, 'y');
  const sep = new RegExp(`${escapeRegex(separator)}`, 'y');
  const out: Partial<Record<Placeholder, string>>[] = [];
  let at = 0;
  while (at < middle.length) {
    if (out.length > 0 && separator !== '') {
      sep.lastIndex = at;
      if (!sep.test(middle)) return undefined;
      at = sep.lastIndex;
    }
    one.lastIndex = at;
    const m = one.exec(middle);
    if (!m?.groups || one.lastIndex === at) return undefined;
    const fields = entry.read(m.groups);
    if (!fields) return undefined;
    out.push(fields);
    at = one.lastIndex;
  }
  return out.length > 0 ? out : undefined;
}

function compileText(name: string, text: string, encoding: BodyEncoding, source: string, problems: Problem[]): CompiledTemplate {
  const section = splitSection(text, encoding, source, problems);
  const parts = entryParts(section.entry, section.before.split('\n').length, source, problems);
  const separator = LIST_SEPARATORS[encoding] ?? '';
  const entry = entryMatcher(parts, !section.list, encoding);
  const single = new RegExp(
    section.list
      ? `^\\s*${literalSource(section.before, true, encoding)}\\s*${entry.source}\\s*${literalSource(section.after, false, encoding)}\\s*$`
      : `^\\s*${entry.source}\\s*$`,
  );
  const list = new RegExp(
    `^\\s*${literalSource(section.before, true, encoding)}([\\s\\S]*)${literalSource(section.after, false, encoding)}\\s*$`,
  );
  const renderEntry = (fields: Readonly<Record<Placeholder, string>>) => {
    let out = '';
    for (const p of parts) out += 'literal' in p ? p.literal : escapeValue(fields[p.placeholder], encoding);
    return out;
  };
  const wrap = (entries: readonly string[]) => section.before + entries.join(separator) + section.after;
  const parse = (body: string) => {
    const m = single.exec(body);
    return m?.groups ? entry.read(m.groups) : undefined;
  };

  return {
    name,
    encoding,
    contentType: CONTENT_TYPES[encoding],
    placeholders: entry.placeholders,
    carriesList: section.list,
    render: (fields) => wrap([renderEntry(fields)]),
    renderEntry,
    wrap,
    parse,
    parseEntries(body) {
      if (!section.list) {
        const one = parse(body);
        return one ? [one] : undefined;
      }
      const m = list.exec(body);
      return m ? readEntries(m[1] ?? '', entry, separator) : undefined;
    },
  };
}

const KINDS: readonly IdentityEventKind[] = ['connect', 'rekey', 'disconnect'];

/**
 * Compiles the push templates once at start. Every problem (unknown placeholder, unreadable file,
 * unknown extension) is collected and thrown together as PTIM_ERR_TEMPLATE.
 */
export function compileTemplates(push: PushConfig, readFile: (path: string) => string): CompiledTemplates {
  const problems: Problem[] = [];
  const cache = new Map<string, CompiledTemplate | undefined>();

  const load = (setting: string, path: string): CompiledTemplate | undefined => {
    if (cache.has(setting)) return cache.get(setting);
    let compiled: CompiledTemplate | undefined;
    const builtin = BUILTIN_TEMPLATES[setting];
    if (builtin) compiled = compileText(setting, builtin.text, builtin.encoding, setting, problems);
    else {
      const encoding = EXTENSION_ENCODINGS[extname(setting).toLowerCase()];
      if (!encoding) {
        problems.push({
          path,
          source: setting,
          message: `not a built-in template (${Object.keys(BUILTIN_TEMPLATES).join(', ')}) and the file extension is not one of ${Object.keys(EXTENSION_ENCODINGS).join(', ')}`,
        });
      } else {
        let text: string | undefined;
        try {
          text = readFile(setting);
        } catch (e) {
          problems.push({ path, source: setting, message: `cannot read template file: ${(e as Error).message}` });
        }
        if (text !== undefined) compiled = compileText(setting, text, encoding, setting, problems);
      }
    }
    cache.set(setting, compiled);
    return compiled;
  };

  const byKind: Partial<Record<IdentityEventKind, CompiledTemplate>> = {};
  for (const kind of KINDS) {
    const override = push.templates[kind];
    const t = override ? load(override, `jims.push.templates.${kind}`) : load(push.template, 'jims.push.template');
    if (t) byKind[kind] = t;
  }
  if (problems.length > 0 || !byKind.connect || !byKind.rekey || !byKind.disconnect)
    throw new PtimError('PTIM_ERR_TEMPLATE', `${problems.length} problem(s) in the JIMS push templates`, problems);
  const all = byKind as Record<IdentityEventKind, CompiledTemplate>;

  return {
    byKind: all,
    render(event) {
      const t = all[event.kind];
      return { body: t.render(eventFields(event, push)), contentType: t.contentType };
    },
    parse(body) {
      for (const kind of KINDS) {
        const fields = all[kind].parse(body);
        if (fields) return { templateKind: kind, fields };
      }
      return undefined;
    },
    parseEntries(body) {
      for (const kind of KINDS) {
        const entries = all[kind].parseEntries(body);
        if (entries) return entries.map((fields) => ({ templateKind: kind, fields }));
      }
      return undefined;
    },
  };
}
