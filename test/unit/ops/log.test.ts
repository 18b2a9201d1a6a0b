import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { redactSecrets, SECRET_KEYS } from '../../../src/log.js';
import { captureLogs } from '../../helpers/sink.js';

describe('log redaction', () => {
  it('censors secret-bearing keys at the top and one and two levels down, in lines and child bindings', () => {
    const logs = captureLogs();
    const logger = logs.logger;
    const obj = {
      clientSecret: 's1',
      jims: { client_secret: 's2', primary: { password: 's3' } },
      request: { headers: { authorization: 'Bearer s4' } },
      redisUrl: 'redis://:s5@h',
      list: [{ access_token: 's6' }],
      user: 'alice',
    };
    logger.info(obj, 'hello');
    logger.child({ password: 's7', component: 'x' }).warn({ ok: 1 }, 'child');
    logger
      .child({ component: 'y' })
      .child({ token: { authorization: 's8' } })
      .info('grandchild');
    const lines = logs.lines();
    const text = JSON.stringify(lines);
    for (const s of ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8']) expect(text).not.toContain(`"${s}`);
    expect(lines[0]).toMatchObject({
      clientSecret: '[redacted]',
      jims: { client_secret: '[redacted]', primary: { password: '[redacted]' } },
      request: { headers: { authorization: '[redacted]' } },
      user: 'alice',
      msg: 'hello',
    });
    expect(lines[1]).toMatchObject({ password: '[redacted]', component: 'x', ok: 1 });
    expect(lines[2]).toMatchObject({ component: 'y', token: { authorization: '[redacted]' }, msg: 'grandchild' });
    // The caller's object is never changed.
    expect(obj.jims.primary.password).toBe('s3');
  });

  it('returns an object holding no secret as it is (no copy on the common path)', () => {
    const o = { jobId: 'a-1', seq: 1, nested: { ip: '192.0.2.1' } };
    expect(redactSecrets(o)).toBe(o);
  });

  it('no secret value placed at depth ≤ 2 under any key path survives; everything else is kept', () => {
    const key = fc.constantFrom(...SECRET_KEYS);
    const plain = fc.string({ maxLength: 8 }).filter((k) => !SECRET_KEYS.has(k) && k !== '__proto__');
    fc.assert(
      fc.property(fc.array(plain, { maxLength: 2 }), key, fc.dictionary(plain, fc.integer()), (path, secretKey, other) => {
        let o: Record<string, unknown> = { ...other, [secretKey]: 'SECRET-VALUE' };
        for (const k of [...path].reverse()) o = { [k]: o };
        const out = JSON.stringify(redactSecrets(o));
        expect(out).not.toContain('SECRET-VALUE');
        for (const v of Object.values(other)) expect(out).toContain(String(v));
      }),
    );
  });
});
