import { describe, expect, it } from 'vitest';
import { maskAuthorization, maskBody, maskHeaders, maskQuery } from '../../../src/jims-sim/mask.js';

describe('masking recorded requests', () => {
  it('authorization keeps the scheme (and the Basic client id), never the credential', () => {
    const basic = `Basic ${Buffer.from('srx%201:pa%3Ass').toString('base64')}`;
    expect(maskAuthorization(basic)).toBe('Basic [masked; client_id=srx 1]');
    expect(maskAuthorization('Bearer 0f1e2d3c')).toBe('Bearer [masked]');
    expect(maskAuthorization('garbage')).toBe('[masked]');
  });

  it('secret-looking headers are masked, others kept', () => {
    expect(
      maskHeaders({
        authorization: 'Bearer x',
        cookie: 'a=b',
        'x-client-secret': 's',
        'content-type': 'application/json',
        host: 'h',
      }),
    ).toEqual({
      authorization: 'Bearer [masked]',
      cookie: '[masked]',
      'x-client-secret': '[masked]',
      'content-type': 'application/json',
      host: 'h',
    });
  });

  it('JSON bodies keep their exact text except secret values', () => {
    const body =
      '{ "grant_type" : "client_credentials", "client_id":"srx1",\n "client_secret": "p\\"w", "n": {"access_token": "t"}, "token_type":"Bearer" }';
    expect(maskBody(body, 'application/json')).toBe(
      '{ "grant_type" : "client_credentials", "client_id":"srx1",\n "client_secret": "[masked]", "n": {"access_token": "[masked]"}, "token_type":"Bearer" }',
    );
  });

  it('form bodies mask secret fields in place', () => {
    expect(maskBody('grant_type=client_credentials&client_id=a&client_secret=p%26w&Password=x', undefined)).toBe(
      'grant_type=client_credentials&client_id=a&client_secret=[masked]&Password=[masked]',
    );
  });

  it('XML bodies mask secret elements', () => {
    expect(maskBody('<a><user>u</user><clientSecret k="1">s</clientSecret></a>', 'text/xml')).toBe(
      '<a><user>u</user><clientSecret k="1">[masked]</clientSecret></a>',
    );
  });

  it('other text is left alone', () => {
    expect(maskBody('hello world', 'text/plain')).toBe('hello world');
  });

  it('query parameters', () => {
    expect(maskQuery(new URLSearchParams('a=1&token=x&a=2'))).toEqual({ a: ['1', '2'], token: '[masked]' });
  });
});
