import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load.js';
import { PtimError } from '../../../src/errors.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PtimError);
    return (e as PtimError)
      .report()
      .split('\n')
      .slice(1)
      .map((l) => l.trim());
  }
  throw new Error('expected a PtimError');
}

describe('config loading', () => {
  it('gives every default with an empty file and freezes the result', () => {
    const { config } = parseConfigText('');
    expect(config.ingest.udp.port).toBe(514);
    expect(config.sessions.duplicateWindowSecs).toBe(5);
    expect(config.jims.push.operationMap).toEqual({ connect: 'logon', rekey: 'logon', disconnect: 'logoff' });
    expect(Object.isFrozen(config.ingest.udp)).toBe(true);
  });

  it('reports every problem at once with file, line, column and path', () => {
    const text = [
      'ingest:',
      '  udp:',
      '    port: seventy',
      '  bogus: 1',
      'sessions:',
      '  duplicateWindowSecs: -1',
      'jims:',
      '  primary:',
      '    host: jims.example.com',
      '    clientId: bridge',
    ].join('\n');
    const lines = problemsOf(() => parseConfigText(text, { file: 'c.yaml' }));
    expect(lines).toHaveLength(4);
    expect(lines.some((l) => l.startsWith('- c.yaml:3:11 ingest.udp.port:'))).toBe(true);
    expect(lines).toContain('- c.yaml:4:3 ingest.bogus: unknown setting');
    expect(lines.some((l) => l.startsWith('- c.yaml:6:24 sessions.duplicateWindowSecs:'))).toBe(true);
    expect(lines.some((l) => l.includes('jims.primary.clientSecret: set clientSecret or clientSecretFile'))).toBe(true);
  });

  it('reports YAML syntax errors with their line', () => {
    const lines = problemsOf(() => parseConfigText('ingest:\n  udp: [1, 2\n', { file: 'c.yaml' }));
    expect(lines[0]).toMatch(/^- c\.yaml:\d+:\d+: /);
  });

  it('interpolates ${VAR} and ${VAR:-default}, and reports a missing variable', () => {
    const text = 'jims:\n  primary:\n    host: ${JIMS_HOST:-jims.example.com}\n    clientId: b\n    clientSecret: ${SECRET}\n';
    const { config } = parseConfigText(text, { env: { SECRET: 's3cret' } });
    expect(config.jims.primary?.host).toBe('jims.example.com');
    expect(config.jims.primary?.clientSecret).toBe('s3cret');
    const lines = problemsOf(() => parseConfigText(text, { file: 'c.yaml', env: {} }));
    expect(lines.join('\n')).toContain('c.yaml:5:19: environment variable SECRET is not set');
  });

  it('applies PTIM__ environment overrides case-insensitively, typed, and reports unknown ones', () => {
    const env = {
      PTIM__INGEST__UDP__PORT: '5514',
      PTIM__SESSIONS__FORWARD_ORPHAN_DOWN: 'false',
      PTIM__INGEST__ALLOWEDSOURCES: '[192.0.2.0/24, "2001:db8::/32"]',
      REDIS_URL: 'redis://redis.example.com:6380',
    };
    const { config, envPaths } = parseConfigText('ingest:\n  udp:\n    port: 1514\n', { env });
    expect(config.ingest.udp.port).toBe(5514);
    expect(config.sessions.forwardOrphanDown).toBe(false);
    expect(config.ingest.allowedSources).toEqual(['192.0.2.0/24', '2001:db8::/32']);
    expect(config.redis.url).toBe('redis://redis.example.com:6380');
    expect(envPaths).toContain('ingest.udp.port');
    const lines = problemsOf(() => parseConfigText('', { env: { PTIM__INGEST__NOPE: '1', PTIM__QUEUE__CONCURRENCY: 'x' } }));
    expect(lines).toEqual([
      '- env PTIM__INGEST__NOPE: does not name a setting (see the configuration reference)',
      expect.stringMatching(/^- env queue\.concurrency: /),
    ]);
  });

  it('rejects a session refresh interval that is not below the idle time', () => {
    const problems = problemsOf(() => parseConfigText('sessions:\n  sessionIdleSecs: 600\n  refreshIntervalSecs: 600\n'));
    expect(problems.join('\n')).toMatch(/sessions\.refreshIntervalSecs.*below sessionIdleSecs \(600\)/);
    expect(
      parseConfigText('sessions:\n  sessionIdleSecs: 600\n  refreshIntervalSecs: 300\n').config.sessions.refreshIntervalSecs,
    ).toBe(300);
  });

  it('rejects a non-mapping top level', () => {
    expect(problemsOf(() => parseConfigText('- a\n- b\n')).join()).toContain('top level must be a mapping');
  });
});

describe('address settings', () => {
  it('rejects bind addresses that are not IPs and a JIMS port of 0, each with its line', () => {
    const text = [
      'ingest:',
      '  udp: { bind: [999.1.1.1, "::"] }',
      'jims:',
      '  primary: { host: j.example.com, port: 0, clientId: a, clientSecret: b }',
    ].join('\n');
    const lines = problemsOf(() => parseConfigText(text, { file: 'c.yaml' }));
    expect(lines).toEqual([
      expect.stringMatching(/^- c\.yaml:2:17 ingest\.udp\.bind\[0\]: must be an IPv4 or IPv6 address/),
      expect.stringMatching(/^- c\.yaml:4:41 jims\.primary\.port: Too small/),
    ]);
  });
});
