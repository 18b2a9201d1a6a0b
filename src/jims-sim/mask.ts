// Masks secrets in recorded requests (record mode and the /_sim/requests log) while keeping the
// raw shape of headers and bodies, since learning that shape is the whole point of recording.
// Pure functions; a masked value reads `[masked]`.

export const MASK = '[masked]';

/** Field, header and parameter names that carry secrets. `token_type` and `grant_type` stay readable. */
const SECRET_NAME = /secret|passw|token|assertion|api[-_]?key|credential|cookie|session/i;
const NOT_SECRET = new Set(['token_type', 'grant_type']);

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) && !NOT_SECRET.has(name.toLowerCase());
}

/** `Basic [masked; client_id=srx1]` keeps who asked; `Bearer [masked]` keeps only the scheme. */
export function maskAuthorization(value: string): string {
  const m = /^(\S+)\s+(.*)$/.exec(value.trim());
  if (!m) return MASK;
  const scheme = m[1] ?? '';
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(m[2] ?? '', 'base64').toString('utf8');
    const idx = decoded.indexOf(':');
    if (idx > 0) {
      let id = decoded.slice(0, idx);
      try {
        id = decodeURIComponent(id.replace(/\+/g, ' '));
      } catch {
        // keep the raw id
      }
      return `${scheme} [masked; client_id=${id}]`;
    }
  }
  return `${scheme} ${MASK}`;
}

export function maskHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const name = k.toLowerCase();
    if (name === 'authorization' || name === 'proxy-authorization')
      out[k] = Array.isArray(v) ? v.map(maskAuthorization) : maskAuthorization(v);
    else if (isSecretName(name)) out[k] = MASK;
    else out[k] = v;
  }
  return out;
}

/** Masks `name=value` pairs of a urlencoded string whose name is secret, leaving the rest byte for byte. */
export function maskForm(text: string): string {
  return text.replace(/(^|&)([^&=]*)=([^&]*)/g, (all, sep: string, rawName: string) => {
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      // keep the raw name
    }
    return isSecretName(name) ? `${sep}${rawName}=${MASK}` : all;
  });
}

/** Masks string (and number) values of secret keys in JSON text without re-serializing it. */
export function maskJsonText(text: string): string {
  return text.replace(/"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*)/g, (all, key: string, colon: string) =>
    isSecretName(key) ? `"${key}"${colon}"${MASK}"` : all,
  );
}

/** Masks `<secret-name>value</secret-name>` elements in XML text. */
export function maskXmlText(text: string): string {
  return text.replace(/<([A-Za-z_][\w.:-]*)(\s[^>]*)?>([^<]*)<\/\1\s*>/g, (all, tag: string, attrs: string | undefined) =>
    isSecretName(tag) ? `<${tag}${attrs ?? ''}>${MASK}</${tag}>` : all,
  );
}

export function maskBody(text: string, contentType: string | undefined): string {
  const ct = (contentType ?? '').toLowerCase();
  const t = text.trimStart();
  if (ct.includes('json') || t.startsWith('{') || t.startsWith('[')) return maskJsonText(text);
  if (ct.includes('xml') || t.startsWith('<')) return maskXmlText(text);
  if (ct.includes('x-www-form-urlencoded') || /^[^\s=&]+=[^\s]*$/.test(t)) return maskForm(text);
  return text;
}

export function maskQuery(query: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key).map((v) => (isSecretName(key) ? MASK : v));
    out[key] = values.length === 1 ? (values[0] as string) : values;
  }
  return out;
}
