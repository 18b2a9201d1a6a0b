// The one place that decides what a JIMS answer (or a failure to get one) means for the event:
// delivered, refresh the token and retry once, retry later, or give up. Explicit lists, like
// undici's retry handler, so reviewers can see every status and error code that is retried.

/** Network error codes that mean "JIMS was not reached or went away": retry, and count toward failover. */
export const RETRYABLE_NETWORK_CODES: readonly string[] = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT', // also got's TimeoutError for every timeout phase
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
];

/** Certificate verification failures: the server is reachable but not trusted. They will not heal by themselves. */
export const UNTRUSTED_CERT_CODES: readonly string[] = [
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
];

/** Prefixes of other TLS handshake failures (protocol/cipher mismatch, alerts). */
export const TLS_ERROR_PREFIXES: readonly string[] = ['CERT_', 'ERR_TLS_', 'ERR_SSL_'];
export const TLS_ERROR_CODES: readonly string[] = ['EPROTO'];

/** HTTP statuses retried later. All 5xx are retried too. */
export const RETRYABLE_STATUSES: readonly number[] = [408, 429];
/** HTTP statuses meaning "the token was not accepted": refresh it and try once more. */
export const AUTH_FAILURE_STATUSES: readonly number[] = [401, 403];

export type Classification =
  | { readonly kind: 'delivered'; readonly status: number; readonly countsTowardFailover: false }
  | { readonly kind: 'auth-failure'; readonly status: number; readonly reason: string; readonly countsTowardFailover: false }
  | {
      readonly kind: 'retry';
      readonly reason: string;
      readonly status?: number;
      readonly retryAfterMs?: number;
      readonly countsTowardFailover: boolean;
      /** The server's certificate was not trusted: log loudly, the operator must fix caFile/tlsVerify. */
      readonly untrustedCert?: boolean;
    }
  | { readonly kind: 'permanent'; readonly reason: string; readonly status: number; readonly countsTowardFailover: false };

export type ResponseHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

export type ClassifyInput = { readonly status: number; readonly headers?: ResponseHeaders } | { readonly errorCode: string };

function header(headers: ResponseHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v[0];
}

/** `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Only accept something that looks like an HTTP-date, not any string Date.parse happens to understand.
  if (!/^[A-Za-z]{3},? /.test(v)) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - nowMs);
}

export function isUntrustedCertCode(code: string): boolean {
  return UNTRUSTED_CERT_CODES.includes(code) || code.startsWith('CERT_');
}

export function isTlsErrorCode(code: string): boolean {
  return isUntrustedCertCode(code) || TLS_ERROR_CODES.includes(code) || TLS_ERROR_PREFIXES.some((p) => code.startsWith(p));
}

/**
 * Classifies one push attempt. Pure: the current time is passed in (for HTTP-date Retry-After).
 * Unknown error codes are retried (an event is never given up on a failure we do not understand)
 * but do not count toward failover, since they may be local (e.g. a bug) rather than JIMS's fault.
 */
export function classify(input: ClassifyInput, nowMs: number): Classification {
  if ('errorCode' in input) {
    const code = input.errorCode;
    if (RETRYABLE_NETWORK_CODES.includes(code)) return { kind: 'retry', reason: `network:${code}`, countsTowardFailover: true };
    if (isUntrustedCertCode(code))
      return { kind: 'retry', reason: `tls:${code}`, countsTowardFailover: true, untrustedCert: true };
    if (isTlsErrorCode(code)) return { kind: 'retry', reason: `tls:${code}`, countsTowardFailover: true };
    return { kind: 'retry', reason: `error:${code || 'unknown'}`, countsTowardFailover: false };
  }
  const status = input.status;
  if (status >= 200 && status < 300) return { kind: 'delivered', status, countsTowardFailover: false };
  if (AUTH_FAILURE_STATUSES.includes(status))
    return { kind: 'auth-failure', status, reason: `http:${status}`, countsTowardFailover: false };
  if (RETRYABLE_STATUSES.includes(status) || (status >= 500 && status < 600)) {
    const retryAfterMs = parseRetryAfter(header(input.headers, 'retry-after'), nowMs);
    // 429 proves the server is alive and answering; switching servers for it would only spread the load problem.
    const countsTowardFailover = status !== 429;
    return retryAfterMs === undefined
      ? { kind: 'retry', reason: `http:${status}`, status, countsTowardFailover }
      : { kind: 'retry', reason: `http:${status}`, status, retryAfterMs, countsTowardFailover };
  }
  // 1xx/3xx (got follows redirects; one that is left over is a misconfiguration) and other 4xx.
  return { kind: 'permanent', reason: `http:${status}`, status, countsTowardFailover: false };
}
