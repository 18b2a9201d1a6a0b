import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { PtimError } from '../../../src/errors.js';
import { FAKE_NOW, startHarness, text, type Harness } from './harness.js';

let h: Harness | undefined;
const senders: Socket[] = [];
afterEach(async () => {
  await h?.stop();
  h = undefined;
  for (const s of senders.splice(0)) s.close();
});

function sender(type: 'udp4' | 'udp6'): Socket {
  const s = createSocket(type);
  senders.push(s);
  return s;
}

const send = (s: Socket, msg: string | Buffer, port: number, host: string) =>
  new Promise<void>((resolve, reject) => s.send(msg, port, host, (e) => (e ? reject(e) : resolve())));

describe('UDP receiver', () => {
  it('receives IPv4 datagrams as messages, stripping one line end, naming the firewall', async () => {
    h = await startHarness({ udp: { enabled: true } }, { firewalls: [{ source: '127.0.0.0/8', name: 'srx-loopback' }] });
    const s = sender('udp4');
    await send(s, '<30>one\n', h.port('udp'), '127.0.0.1');
    await send(s, '<30>two\r\n', h.port('udp'), '127.0.0.1');
    await send(s, Buffer.from('<30>bin \x0a\x14\x1e\x28\0', 'latin1'), h.port('udp'), '127.0.0.1');
    const msgs = await h.waitForMessages(3);
    expect(text(msgs).sort()).toEqual(['<30>bin \x0a\x14\x1e\x28', '<30>one', '<30>two']);
    expect(msgs[0]).toMatchObject({
      transport: 'udp',
      sourceIp: '127.0.0.1',
      receivedAt: FAKE_NOW,
      truncated: false,
      firewall: 'srx-loopback',
    });
    expect(msgs[0]!.sourcePort).toBe(s.address().port);
    expect(await h.counter('received', { transport: 'udp' })).toBe(3);
    expect(await h.counter('receivedBytes', { transport: 'udp' })).toBe(7 + 7 + 12);
  });

  it('receives IPv6 datagrams on ::1 and reports the granted receive buffer', async () => {
    h = await startHarness({ udp: { enabled: true, bind: ['127.0.0.1', '::1'], receiveBufferBytes: 256 * 1024 } });
    const v6 = h.receivers.addresses().find((a) => a.family === 'IPv6');
    expect(v6).toMatchObject({ transport: 'udp', address: '::1' });
    expect(v6!.receiveBufferBytes).toBeGreaterThan(0);
    await send(sender('udp6'), '<30>over v6', h.port('udp', 'IPv6'), '::1');
    await send(sender('udp4'), '<30>over v4', h.port('udp', 'IPv4'), '127.0.0.1');
    const msgs = await h.waitForMessages(2);
    expect(msgs.map((m) => `${m.sourceIp} ${m.bytes.toString()}`).sort()).toEqual(['127.0.0.1 <30>over v4', '::1 <30>over v6']);
    expect(msgs.every((m) => m.firewall === undefined)).toBe(true);
  });

  it('cuts an oversize datagram at maxMessageBytes, flags and counts it', async () => {
    h = await startHarness({ udp: { enabled: true }, maxMessageBytes: 1024 });
    await send(sender('udp4'), '<30>' + 'x'.repeat(3000), h.port('udp'), '127.0.0.1');
    const [m] = await h.waitForMessages(1);
    expect(m!.truncated).toBe(true);
    expect(m!.bytes.length).toBe(1024);
    expect(await h.counter('truncated', { transport: 'udp' })).toBe(1);
  });

  it('drops senders outside the allow-list: nothing reaches the sink, counters move, logs are rate-limited', async () => {
    h = await startHarness({ udp: { enabled: true }, allowedSources: ['192.0.2.0/24', '2001:db8::/32'], droppedLogPerMinute: 3 });
    const s = sender('udp4');
    for (let k = 0; k < 20; k++) await send(s, `<30>denied ${k}`, h.port('udp'), '127.0.0.1');
    await h.waitUntil('20 rejections', async () => (await h!.counter('dropped', { reason: 'not_allowed' })) === 20);
    expect(h.messages).toEqual([]);
    expect(await h.counter('rejectedSources', { source: '127.0.0.1' })).toBe(20);
    expect(await h.counter('received')).toBe(0);
    const warnings = h.logLines.filter((l) => l.setting === 'ingest.allowedSources');
    expect(warnings).toHaveLength(3);
    expect(String(warnings[0]!.msg)).toMatch(/127\.0\.0\.1.*ingest\.allowedSources/);
  });

  it('fails to start with PTIM_ERR_BIND when the port is taken, leaving nothing bound', async () => {
    const taken = sender('udp4');
    taken.bind(0, '127.0.0.1');
    await once(taken, 'listening');
    const err = await startHarness({ udp: { enabled: true, bind: ['::1', '127.0.0.1'], port: taken.address().port } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PtimError);
    expect((err as PtimError).code).toBe('PTIM_ERR_BIND');
    // The IPv6 socket bound first was released again: the port is free on ::1.
    const probe = sender('udp6');
    probe.bind(taken.address().port, '::1');
    await once(probe, 'listening');
  });

  it('survives a sink that throws: the error is logged and later messages still arrive', async () => {
    h = await startHarness({ udp: { enabled: true } }, { sinkThrowsOn: (m) => m.bytes.toString().includes('boom') });
    const s = sender('udp4');
    await send(s, '<30>boom', h.port('udp'), '127.0.0.1');
    await send(s, '<30>fine', h.port('udp'), '127.0.0.1');
    expect(text(await h.waitForMessages(1))).toEqual(['<30>fine']);
    expect(h.logLines.some((l) => l.msg === 'syslog message handler failed')).toBe(true);
  });

  it('warns at start when the allow-list is the default', async () => {
    h = await startHarness({ udp: { enabled: true } });
    expect(h.logLines.some((l) => l.setting === 'ingest.allowedSources' && /default/.test(String(l.msg)))).toBe(true);
  });
});
