// OAuth2 client credentials (RFC 6749 §4.4) for one JIMS server: how the token request looks in
// each supported style, and a per-server cache that refreshes shortly before expiry, shares one
// request among concurrent callers, and forgets a token JIMS rejected. Time is injected.
import type { JimsConfig } from '../config/schema.js';
import type { Clock } from '../types.js';

export type TokenRequestStyle = JimsConfig['tokenRequestStyle'];

export interface TokenRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** application/x-www-form-urlencoded, as RFC 6749 appendix B asks (space as `+`). */
export function formEncode(fields: Readonly<Record<string, string>>): string {
  return new URLSearchParams(fields).toString();
}

/** The token request for a style. Pure; the result carries the secret, so it must never be logged. */
export function buildTokenRequest(style: TokenRequestStyle, clientId: string, clientSecret: string): TokenRequest {
  const accept = { accept: 'application/json' };
  switch (style) {
    case 'json':
      return {
        headers: { ...accept, 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
      };
    case 'form':
      return {
        headers: { ...accept, 'content-type': 'application/x-www-form-urlencoded' },
        body: formEncode({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
      };
    case 'basic': {
      // RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
      const enc = (s: string) => formEncode({ x: s }).slice(2);
      const basic = Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`, 'utf8').toString('base64');
      return {
        headers: { ...accept, 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
        body: formEncode({ grant_type: 'client_credentials' }),
      };
    }
  }
}

export interface TokenResponse {
  readonly accessToken: string;
  /** Seconds; undefined when the server did not say. */
  readonly expiresInSecs?: number;
}

/** Reads `access_token` / `expires_in` from a token response body; undefined when unusable. */
export function parseTokenResponse(body: string): TokenResponse | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.access_token !== 'string' || o.access_token === '') return undefined;
  const e = typeof o.expires_in === 'string' ? Number(o.expires_in) : o.expires_in;
  return typeof e === 'number' && Number.isFinite(e) && e > 0
    ? { accessToken: o.access_token, expiresInSecs: e }
    : { accessToken: o.access_token };
}

export interface TokenCacheOptions {
  /** Performs one token request; rejects on any failure (its error is passed through to callers). */
  fetch: () => Promise<TokenResponse>;
  clock: Clock;
  defaultLifetimeSecs: number;
  refreshMarginSecs: number;
}

/** One server's token. */
export class TokenCache {
  private token: { value: string; refreshAt: number } | undefined;
  private inflight: Promise<string> | undefined;

  constructor(private readonly opts: TokenCacheOptions) {}

  /** A token valid for at least the refresh margin; one request at a time however many callers wait. */
  get(): Promise<string> {
    const t = this.token;
    if (t && this.opts.clock.now() < t.refreshAt) return Promise.resolve(t.value);
    return this.refresh();
  }

  /** Always asks the server (probes); still shared with a request already in flight. */
  refresh(): Promise<string> {
    if (this.inflight) return this.inflight;
    const p = (async () => {
      try {
        const r = await this.opts.fetch();
        const lifetimeSecs = r.expiresInSecs ?? this.opts.defaultLifetimeSecs;
        // A lifetime shorter than the margin would mean a request per push; use half the lifetime then.
        const marginSecs = Math.min(this.opts.refreshMarginSecs, lifetimeSecs / 2);
        this.token = { value: r.accessToken, refreshAt: this.opts.clock.now() + (lifetimeSecs - marginSecs) * 1000 };
        return r.accessToken;
      } finally {
        this.inflight = undefined;
      }
    })();
    this.inflight = p;
    return p;
  }

  /**
   * Forgets `rejected` after JIMS answered 401/403 to it. A token another caller already replaced
   * is left alone, so a burst of rejections causes one refresh, not one per push.
   */
  invalidate(rejected: string): void {
    if (this.token?.value === rejected) this.token = undefined;
  }

  hasValidToken(): boolean {
    return this.token !== undefined && this.opts.clock.now() < this.token.refreshAt;
  }
}
