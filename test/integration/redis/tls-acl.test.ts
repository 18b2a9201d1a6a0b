// Redis over TLS with a private CA and an ACL user whose password comes from a file: the bridge
// connects, checks and delivers; and when it cannot connect, the error says why (an untrusted
// certificate, a wrong password) instead of "Connection is closed".
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../../src/demo/redis-server.js';
import { PtimError } from '../../../src/errors.js';
import { makeCerts, type TestCerts } from '../../helpers/certs.js';
import { freePort } from '../../helpers/redis.js';
import {
  e2eConfig,
  manualClock,
  startBridge,
  startSim,
  vpnLine,
  waitFor,
  type SimHandle,
  type TestRedis,
} from '../e2e/harness.js';

let certs: TestCerts;
let redis: PrivateRedis;
let tlsPort: number;
let jims: SimHandle;
let passwordFile: string;
const keyPrefix = 'tlsacl';

beforeAll(async () => {
  certs = makeCerts();
  tlsPort = await freePort();
  redis = await startPrivateRedis({
    extraArgs: [
      '--tls-port',
      String(tlsPort),
      '--tls-cert-file',
      certs.certFile,
      '--tls-key-file',
      certs.keyFile,
      '--tls-ca-cert-file',
      certs.caFile,
      '--tls-auth-clients',
      'no',
      '--user',
      'ptim',
      'on',
      '>not-a-real-secret',
      '~*',
      '&*',
      '+@all',
    ],
  });
  passwordFile = join(certs.dir, 'redis-password');
  writeFileSync(passwordFile, 'not-a-real-secret\n');
  jims = await startSim();
});
afterAll(async () => {
  await jims?.sim.close();
  await redis?.stop();
});

const config = (redisSettings: Record<string, unknown>) =>
  e2eConfig({ url: '', keyPrefix } as unknown as TestRedis, jims.port, {
    redis: { url: `rediss://localhost:${tlsPort}`, keyPrefix, connectTimeoutSecs: 2, ...redisSettings },
  });

async function startError(redisSettings: Record<string, unknown>): Promise<PtimError> {
  const err = await startBridge(config(redisSettings), manualClock()).then(
    async (b) => (await b.stop(), undefined),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PtimError);
  return err as PtimError;
}

describe('Redis TLS with a private CA and an ACL user', () => {
  it('connects with redis.tls.caFile, redis.username and redis.passwordFile, and delivers', async () => {
    const bridge = await startBridge(config({ tls: { caFile: certs.caFile }, username: 'ptim', passwordFile }), manualClock());
    try {
      await bridge.send([vpnLine({ kind: 'up', user: 'alice@example.com', ip: '192.0.2.77' })], 'tcp');
      await waitFor(() => jims.sim.identities()['192.0.2.77']?.user === 'alice', { timeoutMs: 10_000, what: 'alice mapped' });
    } finally {
      await bridge.stop();
    }
  });

  it('an untrusted certificate is named in the error', async () => {
    const err = await startError({ username: 'ptim', passwordFile });
    expect(err.code).toBe('PTIM_ERR_REDIS_UNREACHABLE');
    expect(err.message).toMatch(/self[- ]signed certificate|unable to verify/i);
  });

  it('a wrong password is named in the error, and the password is not', async () => {
    const wrong = join(certs.dir, 'wrong-password');
    writeFileSync(wrong, 'wrong-secret-value');
    const err = await startError({ tls: { caFile: certs.caFile }, username: 'ptim', passwordFile: wrong });
    expect(err.code).toBe('PTIM_ERR_REDIS_UNREACHABLE');
    expect(err.message).toMatch(/WRONGPASS/);
    expect(err.message).not.toContain('wrong-secret-value');
  });

  it('an unreadable password file is a PTIM_ERR_SECRET naming the setting', async () => {
    const err = await startError({ tls: { caFile: certs.caFile }, passwordFile: join(certs.dir, 'missing') });
    expect(err.code).toBe('PTIM_ERR_SECRET');
    expect(err.problems.map((p) => p.path)).toContain('redis.passwordFile');
  });
});
