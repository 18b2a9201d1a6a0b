// The ops listener over HTTPS: health and metrics as before, and the console's cookie is then
// Secure with the __Host- prefix.
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCerts } from '../../helpers/certs.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { e2eConfig, startBridge, type Bridge } from '../e2e/harness.js';
import { consoleOverrides, VIEWER } from './fixture.js';

let redis: TestRedis;
let bridge: Bridge;
const certs = makeCerts();

beforeAll(async () => {
  redis = await startRedis();
  const overrides = await consoleOverrides();
  const ops = {
    ...(overrides.ops as Record<string, unknown>),
    tls: { enabled: true, certFile: certs.certFile, keyFile: certs.keyFile },
  };
  bridge = await startBridge(e2eConfig(redis, undefined, { ops }));
});

afterAll(async () => {
  await bridge?.stop();
  await redis?.stop();
});

function call(path: string, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const port = bridge.app.addresses().ops!.port;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path,
        method: body ? 'POST' : 'GET',
        ca: certs.ca,
        headers: body ? { 'content-type': 'application/json' } : {},
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('ops over HTTPS', () => {
  it('serves health over TLS and sets a Secure __Host- cookie at login', async () => {
    expect((await call('/healthz')).status).toBe(200);
    expect((await call('/console/api/me')).status).toBe(401);
    const r = await call('/console/login', JSON.stringify({ user: VIEWER.name, password: VIEWER.password }));
    expect(r.status).toBe(200);
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toMatch(/^__Host-ptim_console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure$/);
  });
});
