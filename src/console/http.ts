// Small HTTP helpers of the console: JSON replies with the security headers every console
// response carries, bounded body reading, cookies and the client address.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Everything is served by the bridge itself: nothing else may load, frame or be posted to. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // Not no-referrer: Chrome then sends `Origin: null` on our own form posts, which the origin check refuses.
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export function send(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  type: string,
  headers: Readonly<Record<string, string | string[]>> = {},
): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store', ...headers });
  res.end(body);
}

export const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}) =>
  send(res, status, JSON.stringify(body), 'application/json; charset=utf-8', headers);

export const redirect = (res: ServerResponse, location: string, headers: Record<string, string | string[]> = {}) =>
  send(res, 303, '', 'text/plain', { location, ...headers });

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Reads the request body up to `maxBytes` (413 beyond). */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new HttpError(413, `request body over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A JSON or form-encoded body as a flat object of strings and values. */
export async function readFields(req: IncomingMessage, maxBytes = 64 * 1024): Promise<Record<string, unknown>> {
  const text = await readBody(req, maxBytes);
  if (!text) return {};
  if ((req.headers['content-type'] ?? '').includes('application/json')) {
    try {
      const v: unknown = JSON.parse(text);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // reported below
    }
    throw new HttpError(400, 'the body is not a JSON object');
  }
  return Object.fromEntries(new URLSearchParams(text));
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

/** The peer address (forwarding headers are not trusted: anyone can write them). */
export const clientAddress = (req: IncomingMessage) => (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
