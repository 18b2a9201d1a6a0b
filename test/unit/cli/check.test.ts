import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCheck } from '../../../src/cli/check.js';

function sink() {
  let text = '';
  const stream = new Writable({
    write(c: Buffer, _e, cb) {
      text += c.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

function configFile(yaml: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'ptim-check-')), 'config.yaml');
  writeFileSync(f, yaml);
  return f;
}

describe('ptim-bridge check', () => {
  it('reports config problems and pattern problems in the same run', async () => {
    const dir = resolve('test/fixtures/patterns-bad/many');
    const file = configFile(`ingest:\n  udp: { port: 70000 }\npatterns:\n  dirs: [${JSON.stringify(dir)}]\n`);
    const out = sink();
    const err = sink();
    expect(await runCheck(file, out.stream, err.stream)).toBe(1);
    expect(err.text()).toContain(`PTIM_ERR_CONFIG: invalid configuration (1 problem(s))\n  - ${file}:2:16 ingest.udp.port:`);
    expect(err.text()).toContain('PTIM_ERR_PATTERN');
  });

  it('passes the shipped library with a valid config', async () => {
    const out = sink();
    const err = sink();
    expect(await runCheck(configFile('identity: { defaultDomain: example.com }\n'), out.stream, err.stream)).toBe(0);
    expect(err.text()).toBe('');
    expect(out.text()).toMatch(/OK: configuration valid; \d+ pattern\(s\) loaded and self-tested/);
  });

  it('warns when a VPN and its gateway map to different domains', async () => {
    const out = sink();
    const err = sink();
    const yaml =
      'identity:\n  gatewayByVpn: { JSC-VPN: JSC-GW }\n  domainByVpn: { JSC-VPN: corp.example.com }\n  domainByGateway: { JSC-GW: example.com }\n';
    expect(await runCheck(configFile(yaml), out.stream, err.stream)).toBe(0);
    expect(out.text()).toContain(
      'warning: identity.domainByVpn["JSC-VPN"] is "corp.example.com" but its gateway\'s identity.domainByGateway["JSC-GW"] is "example.com"',
    );
  });
});
