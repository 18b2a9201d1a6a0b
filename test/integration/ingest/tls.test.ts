import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PtimError } from '../../../src/errors.js';
import { makeCerts, type TestCerts } from '../../helpers/certs.js';
import { startHarness, text, type Harness } from './harness.js';

let certs: TestCerts;
beforeAll(() => {
  certs = makeCerts();
});

let h: Harness | undefined;
const clients: TLSSocket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await h?.stop();
  h = undefined;
});

const FAST = { quietFlushMs: 20, shutdownGraceMs: 200 };

function tlsClient(port: number, withCert: boolean, host = '127.0.0.1'): TLSSocket {
  const c = connect({
    port,
    host,
    ca: certs.ca,
    servername: 'localhost',
    ...(withCert ? { cert: certs.clientCert, key: certs.clientKey } : {}),
  });
  clients.push(c);
  return c;
}

/** Resolves to 'closed' when the server refuses or drops the connection without accepting data. */
async function outcome(c: TLSSocket): Promise<'closed'> {
  await new Promise<void>((resolve) => {
    c.once('error', () => resolve());
    c.once('close', () => resolve());
  });
  return 'closed';
}

describe('TLS receiver (RFC 5425)', () => {
  it('receives octet-counted messages over TLS without a client certificate', async () => {
    h = await startHarness({ tls: { enabled: true, certFile: certs.certFile, keyFile: certs.keyFile } }, { timing: FAST });
    const c = tlsClient(h.port('tls'), false);
    await once(c, 'secureConnect');
    c.write('10 <30>hello!' + '<30>lf framed\n');
    const msgs = await h.waitForMessages(2);
    expect(text(msgs)).toEqual(['<30>hello!', '<30>lf framed']);
    expect(msgs[0]).toMatchObject({ transport: 'tls', sourceIp: '127.0.0.1' });
    expect(await h.counter('connections', { transport: 'tls' })).toBe(1);
  });

  it('with requireClientCert accepts a client certificate signed by clientCaFile and refuses a client without one', async () => {
    h = await startHarness(
      {
        tls: {
          enabled: true,
          bind: ['127.0.0.1', '::1'],
          certFile: certs.certFile,
          keyFile: certs.keyFile,
          clientCaFile: certs.caFile,
          requireClientCert: true,
        },
      },
      { timing: FAST },
    );
    const good = tlsClient(h.port('tls', 'IPv6'), true, '::1');
    await once(good, 'secureConnect');
    good.write('<30>authenticated\n');
    const msgs = await h.waitForMessages(1);
    expect(msgs[0]).toMatchObject({ transport: 'tls', sourceIp: '::1' });

    const anonymous = tlsClient(h.port('tls'), false);
    anonymous.on('secureConnect', () => anonymous.write('<30>must not arrive\n'));
    expect(await outcome(anonymous)).toBe('closed');
    await h.waitUntil(
      'handshake drop counted',
      async () => (await h!.counter('dropped', { transport: 'tls', reason: 'tls_handshake' })) === 1,
    );
    expect(text(h.messages)).toEqual(['<30>authenticated']);
    await h.waitUntil('one connection left', async () => (await h!.counter('connections', { transport: 'tls' })) === 1);
  });

  it('refuses senders outside the allow-list before the handshake', async () => {
    h = await startHarness(
      { tls: { enabled: true, certFile: certs.certFile, keyFile: certs.keyFile }, allowedSources: ['203.0.113.0/24'] },
      { timing: FAST },
    );
    const c = tlsClient(h.port('tls'), false);
    let secured = false;
    c.on('secureConnect', () => (secured = true));
    expect(await outcome(c)).toBe('closed');
    expect(secured).toBe(false);
    expect(await h.counter('dropped', { transport: 'tls', reason: 'not_allowed' })).toBe(1);
    expect(await h.counter('dropped', { transport: 'tls', reason: 'tls_handshake' })).toBe(0);
  });

  it('times out a handshake that never finishes, and logs it with the real source', async () => {
    h = await startHarness(
      { tls: { enabled: true, certFile: certs.certFile, keyFile: certs.keyFile } },
      { timing: { ...FAST, tlsHandshakeTimeoutMs: 150, firstFrameTimeoutMs: 60_000 } },
    );
    const raw = netConnect({ port: h.port('tls'), host: '127.0.0.1' });
    raw.on('error', () => {});
    await once(raw, 'close');
    await h.waitUntil(
      'counted',
      async () => (await h!.counter('dropped', { transport: 'tls', reason: 'tls_handshake_timeout' })) === 1,
    );
    const line = h.logLines.find((l) => l.event === 'syslog_tls_handshake_timeout');
    expect(line).toMatchObject({ source: '127.0.0.1', setting: 'ingest.tls.handshakeTimeoutSecs' });
  });

  it('logs a handshake reset by the peer with its real source address', async () => {
    h = await startHarness({ tls: { enabled: true, certFile: certs.certFile, keyFile: certs.keyFile } }, { timing: FAST });
    const raw = netConnect({ port: h.port('tls'), host: '127.0.0.1' });
    raw.on('error', () => {});
    await once(raw, 'connect');
    // The first bytes of a ClientHello, then a TCP reset.
    raw.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    raw.resetAndDestroy();
    await h.waitUntil('counted', async () => (await h!.counter('dropped', { transport: 'tls', reason: 'tls_handshake' })) === 1);
    const line = h.logLines.find((l) => l.event === 'syslog_tls_handshake');
    expect(line).toMatchObject({ source: '127.0.0.1' });
  });

  it('counts a TLS connection over the per-source cap as that, not as a failed handshake', async () => {
    h = await startHarness(
      { tls: { enabled: true, certFile: certs.certFile, keyFile: certs.keyFile }, maxConnectionsPerSource: 1 },
      { timing: FAST },
    );
    const first = tlsClient(h.port('tls'), false);
    await once(first, 'secureConnect');
    const second = tlsClient(h.port('tls'), false);
    await outcome(second);
    await h.waitUntil(
      'counted',
      async () => (await h!.counter('dropped', { transport: 'tls', reason: 'source_connection_limit' })) === 1,
    );
    expect(await h.counter('dropped', { transport: 'tls', reason: 'tls_handshake' })).toBe(0);
  });

  it('fails to start with PTIM_ERR_SECRET when the key file cannot be read', async () => {
    const err = await startHarness({
      tls: { enabled: true, certFile: certs.certFile, keyFile: `${certs.dir}/missing.key` },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PtimError);
    expect((err as PtimError).code).toBe('PTIM_ERR_SECRET');
    expect((err as PtimError).message).toMatch(/ingest\.tls\.keyFile/);
  });
});
