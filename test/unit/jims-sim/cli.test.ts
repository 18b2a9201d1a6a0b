import { describe, expect, it } from 'vitest';
import { buildJimsSimCommand, simOptionsFromCli, type JimsSimCliOptions } from '../../../src/cli/jims-sim.js';
import type { PtimError } from '../../../src/errors.js';
import { makeCerts } from '../../helpers/certs.js';

const base: JimsSimCliOptions = {
  host: '0.0.0.0',
  port: 8443,
  tokenPath: 'oauth_token/oauth',
  pushPath: 'api/userfw/v1/post-entry',
  pushMethod: 'POST',
  template: 'userfw-xml',
  tokenLifetimeSecs: 28800,
  latencyMs: 0,
  errorRate: 0,
  logLevel: 'info',
};

const usage = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as PtimError).code;
  }
  return 'no error';
};

describe('jims-sim command line', () => {
  it('clients from --client, or from JIMS_SIM_CLIENTS', () => {
    expect(simOptionsFromCli({ ...base, http: true, client: ['srx1:a:b'] }, {}).options.clients).toEqual([
      { clientId: 'srx1', clientSecret: 'a:b' },
    ]);
    expect(simOptionsFromCli({ ...base, http: true }, { JIMS_SIM_CLIENTS: 'a:1, b:2' }).options.clients).toEqual([
      { clientId: 'a', clientSecret: '1' },
      { clientId: 'b', clientSecret: '2' },
    ]);
  });

  it('usage errors', () => {
    expect(usage(() => simOptionsFromCli({ ...base, http: true }, {}))).toBe('PTIM_ERR_USAGE');
    expect(usage(() => simOptionsFromCli({ ...base, http: true, client: ['nosecret'] }, {}))).toBe('PTIM_ERR_USAGE');
    expect(usage(() => simOptionsFromCli({ ...base, https: true, client: ['a:b'] }, {}))).toBe('PTIM_ERR_USAGE');
    expect(usage(() => simOptionsFromCli({ ...base, http: true, client: ['a:b'], errorRate: 2 }, {}))).toBe('PTIM_ERR_USAGE');
  });

  it('record mode needs no clients; HTTPS with cert and key; plain HTTP is a warning', () => {
    const c = makeCerts();
    const r = simOptionsFromCli({ ...base, record: '/tmp/x.jsonl', cert: c.certFile, key: c.keyFile }, {});
    expect(r.options.record).toEqual({ file: '/tmp/x.jsonl' });
    expect(r.options.tls?.cert.toString()).toContain('BEGIN CERTIFICATE');
    expect(r.warnings).toEqual([]);
    expect(simOptionsFromCli({ ...base, client: ['a:b'] }, {}).warnings[0]).toContain('plain HTTP');
  });

  it('options parse from argv and env', () => {
    const cmd = buildJimsSimCommand();
    cmd.exitOverride().action(() => {});
    process.env.JIMS_SIM_PORT = '9443';
    try {
      cmd.parse(['--http', '--client', 'a:b', '--client', 'c:d', '--error-rate', '0.25', '--offline', 'hang'], { from: 'user' });
    } finally {
      delete process.env.JIMS_SIM_PORT;
    }
    expect(cmd.opts()).toMatchObject({ port: 9443, http: true, client: ['a:b', 'c:d'], errorRate: 0.25, offline: 'hang' });
  });
});
