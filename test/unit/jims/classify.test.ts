import { describe, expect, it } from 'vitest';
import { classify, parseRetryAfter, RETRYABLE_NETWORK_CODES } from '../../../src/jims/classify.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

describe('classify: HTTP statuses', () => {
  it.each([
    [200, 'delivered', false],
    [201, 'delivered', false],
    [204, 'delivered', false],
    [401, 'auth-failure', false],
    [403, 'auth-failure', false],
    [408, 'retry', true],
    [429, 'retry', false],
    [500, 'retry', true],
    [502, 'retry', true],
    [503, 'retry', true],
    [504, 'retry', true],
    [599, 'retry', true],
    [400, 'permanent', false],
    [404, 'permanent', false],
    [405, 'permanent', false],
    [409, 'permanent', false],
    [413, 'permanent', false],
    [415, 'permanent', false],
    [422, 'permanent', false],
    [301, 'permanent', false],
  ] as const)('%i ⇒ %s (failover: %s)', (status, kind, failover) => {
    const c = classify({ status }, NOW);
    expect(c.kind).toBe(kind);
    expect(c.countsTowardFailover).toBe(failover);
  });

  it('429 with Retry-After seconds gives retryAfterMs', () => {
    const c = classify({ status: 429, headers: { 'retry-after': '7' } }, NOW);
    expect(c).toMatchObject({ kind: 'retry', retryAfterMs: 7000, status: 429 });
  });

  it('429 with an HTTP-date Retry-After gives the time until then', () => {
    const at = new Date(NOW + 90_000).toUTCString();
    const c = classify({ status: 429, headers: { 'retry-after': at } }, NOW);
    expect(c).toMatchObject({ kind: 'retry', retryAfterMs: 90_000 });
  });

  it('503 honours Retry-After too; a past date means no wait', () => {
    const past = new Date(NOW - 5000).toUTCString();
    expect(classify({ status: 503, headers: { 'retry-after': past } }, NOW)).toMatchObject({ retryAfterMs: 0 });
  });

  it('an unreadable Retry-After is ignored, not guessed', () => {
    const c = classify({ status: 429, headers: { 'retry-after': 'soon' } }, NOW);
    expect(c.kind).toBe('retry');
    expect(c).not.toHaveProperty('retryAfterMs');
  });

  it('repeated header values use the first', () => {
    expect(classify({ status: 429, headers: { 'retry-after': ['3', '9'] } }, NOW)).toMatchObject({ retryAfterMs: 3000 });
  });
});

describe('classify: network and TLS errors', () => {
  it.each([...RETRYABLE_NETWORK_CODES])('%s ⇒ retry, counts toward failover', (code) => {
    expect(classify({ errorCode: code }, NOW)).toMatchObject({ kind: 'retry', countsTowardFailover: true });
  });

  it.each([
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'CERT_HAS_EXPIRED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'CERT_SOMETHING_NEW',
  ])('%s ⇒ retry, failover, flagged as untrusted certificate', (code) => {
    expect(classify({ errorCode: code }, NOW)).toMatchObject({ kind: 'retry', countsTowardFailover: true, untrustedCert: true });
  });

  it.each(['EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_TLS_HANDSHAKE_TIMEOUT'])(
    '%s ⇒ retry, failover, not a trust problem',
    (code) => {
      const c = classify({ errorCode: code }, NOW);
      expect(c).toMatchObject({ kind: 'retry', countsTowardFailover: true });
      expect(c).not.toHaveProperty('untrustedCert');
    },
  );

  it('an unknown error code is retried but does not count toward failover', () => {
    expect(classify({ errorCode: 'ERR_SOMETHING_LOCAL' }, NOW)).toMatchObject({
      kind: 'retry',
      countsTowardFailover: false,
      reason: 'error:ERR_SOMETHING_LOCAL',
    });
  });
});

describe('parseRetryAfter', () => {
  it.each([
    [undefined, undefined],
    ['0', 0],
    [' 12 ', 12_000],
    ['-1', undefined],
    ['1.5', undefined],
    ['Wed, 15 Jan 2026 12:00:30 GMT', 30_000],
    ['2026-01-15', undefined],
  ])('%s ⇒ %s', (v, ms) => {
    expect(parseRetryAfter(v, NOW)).toBe(ms);
  });
});
