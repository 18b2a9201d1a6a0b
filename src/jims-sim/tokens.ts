// The simulator's OAuth2 side: reading client credentials in any of the three request styles, and
// the tokens it issued. No I/O; time is passed in.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface TokenCredentials {
  clientId?: string;
  clientSecret?: string;
  grantType?: string;
}

function formDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

/** Reads client credentials from any of the three styles (json, form, basic). */
export function parseTokenCredentials(headers: IncomingMessage['headers'], body: string): TokenCredentials {
  const out: TokenCredentials = {};
  const ct = (headers['content-type'] ?? '').toLowerCase();
  try {
    if (ct.includes('json')) {
      const v = JSON.parse(body) as Record<string, unknown>;
      if (typeof v.client_id === 'string') out.clientId = v.client_id;
      if (typeof v.client_secret === 'string') out.clientSecret = v.client_secret;
      if (typeof v.grant_type === 'string') out.grantType = v.grant_type;
    } else {
      const q = new URLSearchParams(body);
      const id = q.get('client_id');
      const secret = q.get('client_secret');
      const grant = q.get('grant_type');
      if (id !== null) out.clientId = id;
      if (secret !== null) out.clientSecret = secret;
      if (grant !== null) out.grantType = grant;
    }
  } catch {
    // malformed body: no credentials from it
  }
  const auth = headers.authorization;
  const m = auth ? /^basic\s+(\S+)$/i.exec(auth) : null;
  if (m) {
    const decoded = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
    const idx = decoded.indexOf(':');
    if (idx > 0) {
      try {
        out.clientId = formDecode(decoded.slice(0, idx));
        out.clientSecret = formDecode(decoded.slice(idx + 1));
      } catch {
        // leave credentials unset
      }
    }
  }
  return out;
}

/** Tokens issued, by value. */
export class SimTokens {
  private readonly tokens = new Map<string, { clientId: string; expiresAt: number }>();

  issue(clientId: string, lifetimeSecs: number, now: number): { access_token: string; token_type: 'Bearer'; expires_in: number } {
    if (this.tokens.size > 10_000) for (const [t, v] of this.tokens) if (v.expiresAt <= now) this.tokens.delete(t);
    const token = randomUUID();
    this.tokens.set(token, { clientId, expiresAt: now + lifetimeSecs * 1000 });
    return { access_token: token, token_type: 'Bearer', expires_in: lifetimeSecs };
  }

  /** The client of a valid bearer token in an Authorization header, or why there is none. */
  check(authorization: string | undefined, now: number): { clientId: string } | { note: string } {
    const m = /^bearer\s+(\S+)$/i.exec(authorization ?? '');
    const tok = m ? this.tokens.get(m[1] ?? '') : undefined;
    if (!tok) return { note: 'no valid token' };
    if (tok.expiresAt <= now) return { note: 'token expired' };
    return { clientId: tok.clientId };
  }

  clear(): void {
    this.tokens.clear();
  }
}
