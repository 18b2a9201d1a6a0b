import { once } from 'node:events';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../../src/config/schema.js';
import { PtimError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { createReceivers } from '../../../src/ingest/receivers.js';
import { makeCerts } from '../../helpers/certs.js';

const deps = () => ({ sink: () => {}, clock: { now: () => 0 }, metrics: createMetrics(), logger: silentLogger });

function loopbackConfig() {
  const cfg = defaultConfig();
  const certs = makeCerts();
  return {
    firewalls: cfg.firewalls,
    ingest: {
      ...cfg.ingest,
      udp: { ...cfg.ingest.udp, bind: ['127.0.0.1', '::1'], port: 0 },
      tcp: { ...cfg.ingest.tcp, bind: ['127.0.0.1', '::1'], port: 0 },
      tls: { ...cfg.ingest.tls, enabled: true, bind: ['127.0.0.1'], port: 0, certFile: certs.certFile, keyFile: certs.keyFile },
    },
  };
}

describe('createReceivers', () => {
  it('reports every invalid CIDR at once as PTIM_ERR_CONFIG', () => {
    const cfg = defaultConfig();
    cfg.ingest.allowedSources = ['10.0.0.0/8', 'ten', '2001:db8::/129'];
    cfg.firewalls = [{ source: '192.0.2.1/24', name: 'x' }];
    let err: unknown;
    try {
      createReceivers(cfg, deps());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PtimError);
    expect((err as PtimError).code).toBe('PTIM_ERR_CONFIG');
    expect((err as PtimError).problems.map((p) => p.path)).toEqual([
      'ingest.allowedSources[1]',
      'ingest.allowedSources[2]',
      'firewalls[0].source',
    ]);
  });

  it('starts every enabled listener, reports their addresses and readiness, and stops them all', async () => {
    const r = createReceivers(loopbackConfig(), deps());
    expect(r.ready()).toBe(false);
    await r.start();
    expect(r.ready()).toBe(true);
    const seen = r.addresses().map((a) => `${a.transport} ${a.family}`);
    expect(seen.sort()).toEqual(['tcp IPv4', 'tcp IPv6', 'tls IPv4', 'udp IPv4', 'udp IPv6']);
    expect(r.addresses().every((a) => a.port > 0)).toBe(true);
    const tcpPort = r.addresses().find((a) => a.transport === 'tcp')!.port;
    await r.stop();
    expect(r.ready()).toBe(false);
    expect(r.addresses()).toEqual([]);
    // The port is free again.
    const probe = createServer().listen(tcpPort, '127.0.0.1');
    await once(probe, 'listening');
    probe.close();
  });

  it('leaves nothing bound when one listener cannot bind', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    const cfg = loopbackConfig();
    cfg.ingest.udp = { ...cfg.ingest.udp, bind: ['127.0.0.1'], port };
    cfg.ingest.tcp = { ...cfg.ingest.tcp, bind: ['127.0.0.1'], port };
    const r = createReceivers(cfg, deps());
    const err = await r.start().catch((e: unknown) => e);
    blocker.close();
    expect((err as PtimError).code).toBe('PTIM_ERR_BIND');
    expect(r.ready()).toBe(false);
    // The UDP socket that did bind was closed again.
    const probe = createSocket('udp4');
    probe.bind(port, '127.0.0.1');
    await once(probe, 'listening');
    probe.close();
  });
});
