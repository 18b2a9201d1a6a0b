import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runCheck, withPatternProblems } from '../../../src/cli/check.js';
import { loadConfig } from '../../../src/config/load.js';
import { PtimError } from '../../../src/errors.js';
import { textSink } from '../../helpers/sink.js';

function configFile(yaml: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'ptim-check-')), 'config.yaml');
  writeFileSync(f, yaml);
  return f;
}

describe('ptim-bridge check', () => {
  it('reports config problems and pattern problems in the same run', async () => {
    const dir = resolve('test/fixtures/patterns-bad/many');
    const file = configFile(`ingest:\n  udp: { port: 70000 }\npatterns:\n  dirs: [${JSON.stringify(dir)}]\n`);
    const out = textSink();
    const err = textSink();
    expect(await runCheck(file, out.stream, err.stream)).toBe(1);
    expect(err.text()).toContain(`PTIM_ERR_CONFIG: invalid configuration (1 problem(s))\n  - ${file}:2:16 ingest.udp.port:`);
    expect(err.text()).toContain('PTIM_ERR_PATTERN');
  });

  it('passes the shipped library with a valid config', async () => {
    const out = textSink();
    const err = textSink();
    const yaml = 'identity: { defaultDomain: example.com }\ningest: { udp: { port: 0 }, tcp: { port: 0 } }\nops: { port: 0 }\n';
    expect(await runCheck(configFile(yaml), out.stream, err.stream)).toBe(0);
    expect(err.text()).toBe('');
    expect(out.text()).toMatch(/OK: configuration valid; \d+ pattern\(s\) loaded and self-tested/);
  });

  it('warns when a VPN and its gateway map to different domains', async () => {
    const out = textSink();
    const err = textSink();
    const yaml =
      'identity:\n  gatewayByVpn: { JSC-VPN: JSC-GW }\n  domainByVpn: { JSC-VPN: corp.example.com }\n  domainByGateway: { JSC-GW: example.com }\n';
    expect(await runCheck(configFile(yaml), out.stream, err.stream)).toBe(0);
    expect(out.text()).toContain(
      'warning: identity.domainByVpn["JSC-VPN"] is "corp.example.com" but its gateway\'s identity.domainByGateway["JSC-GW"] is "example.com"',
    );
  });

  it('reports missing files and a wrong URL scheme with their lines, with the schema problems', async () => {
    const file = configFile(
      [
        'ingest:',
        '  tls: { enabled: true, certFile: /nonexistent/cert.pem, keyFile: /nonexistent/key.pem }',
        '  udp: { port: 70000 }',
        'redis: { url: "http://127.0.0.1:6379" }',
        '',
      ].join('\n'),
    );
    const err = textSink();
    expect(await runCheck(file, textSink().stream, err.stream)).toBe(1);
    expect(err.text()).toContain('PTIM_ERR_CONFIG: invalid configuration (4 problem(s))');
    expect(err.text()).toContain(`${file}:2:35 ingest.tls.certFile: file not found: /nonexistent/cert.pem`);
    expect(err.text()).toContain('ingest.tls.keyFile: file not found');
    expect(err.text()).toContain(`${file}:4:15 redis.url: scheme http:// is not supported`);
    expect(err.text()).toContain('ingest.udp.port');
  });

  it('reports a port already in use (PTIM_ERR_BIND) and pattern problems in the same run', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    const dir = resolve('test/fixtures/patterns-bad/many');
    const file = configFile(
      [
        `ingest: { udp: { port: 0 }, tcp: { bind: [127.0.0.1], port: ${port} } }`,
        'ops: { port: 0 }',
        `patterns: { dirs: [${JSON.stringify(dir)}] }`,
        '',
      ].join('\n'),
    );
    const err = textSink();
    try {
      expect(await runCheck(file, textSink().stream, err.stream)).toBe(1);
    } finally {
      busy.close();
    }
    expect(err.text()).toContain(
      `PTIM_ERR_BIND: 1 port(s) cannot be bound\n  - ingest.tcp.port: TCP 127.0.0.1 port ${port} is already in use`,
    );
    expect(err.text()).toContain('PTIM_ERR_PATTERN');
    // The cheap problems come first: the bind error is printed before the pattern library's.
    expect(err.text().indexOf('PTIM_ERR_BIND')).toBeLessThan(err.text().indexOf('PTIM_ERR_PATTERN'));
  });

  it('serve reports an invalid configuration together with the pattern library problems (withPatternProblems)', async () => {
    const dir = resolve('test/fixtures/patterns-bad/many');
    const file = configFile(`ingest:\n  udp: { port: 70000 }\npatterns:\n  dirs: [${JSON.stringify(dir)}]\n`);
    const e = await loadConfig({ file }).then(
      () => undefined,
      (x: unknown) => x as PtimError,
    );
    const combined = PtimError.combine((await withPatternProblems(e!, file)).errors);
    const report = combined.report();
    expect(report).toContain('ingest.udp.port: PTIM_ERR_CONFIG:');
    expect(report).toContain('t-up.regx: PTIM_ERR_PATTERN: unknown key');
  });
});
