import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJimsClient } from '../../../src/jims/client.js';
import { createJimsSimulator, type JimsSimulator } from '../../../src/jims-sim/simulator.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { makeCerts } from '../../helpers/certs.js';
import { SECRET, captureLogs, event, fakeClock, jimsConfig } from './helpers.js';

let sim: JimsSimulator;
let port: number;
const certs = makeCerts();

beforeAll(async () => {
  sim = createJimsSimulator({ clients: [{ clientId: 'srx1', clientSecret: SECRET }], tls: { cert: certs.cert, key: certs.key } });
  port = (await sim.listen(0)).port;
});
afterAll(async () => {
  await sim.close();
});

function https(server: Record<string, unknown>) {
  const logs = captureLogs();
  const c = createJimsClient(jimsConfig(port, {}, { scheme: 'https', ...server }), {
    metrics: createMetrics(),
    logger: logs.logger,
    clock: fakeClock(),
  });
  return { c, logs };
}

describe('JIMS client over HTTPS', () => {
  it('verifies the certificate by default: an untrusted one is retried, counts toward failover and is logged loudly', async () => {
    const { c, logs } = https({});
    try {
      const o = await c.push(event());
      expect(o).toMatchObject({ result: 'retry', reason: 'token:tls:UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
      const loud = logs.lines().find((l) => String(l.msg).includes('certificate is not trusted'));
      expect(loud).toMatchObject({ level: 50, server: 'primary' });
    } finally {
      await c.close();
    }
  });

  it('caFile makes the self-signed JIMS certificate trusted', async () => {
    const { c, logs } = https({ caFile: certs.caFile });
    try {
      expect(await c.push(event({ ip: '203.0.113.9' }))).toMatchObject({ result: 'delivered', status: 200 });
      expect(sim.identities()['203.0.113.9']).toMatchObject({ user: 'alice' });
      expect(logs.text()).not.toContain('verification is OFF');
    } finally {
      await c.close();
    }
  });

  it('tlsVerify: false works, with a warning at start', async () => {
    const { c, logs } = https({ tlsVerify: false });
    try {
      const warn = logs.lines().find((l) => String(l.msg).includes('verification is OFF'));
      expect(warn).toMatchObject({ level: 40, server: 'primary' });
      expect(await c.push(event())).toMatchObject({ result: 'delivered' });
    } finally {
      await c.close();
    }
  });
});
