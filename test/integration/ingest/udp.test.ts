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

// Both readers behave alike; recvmmsg is required here (CI builds the addon), never skipped.
describe.each(['recvmmsg', 'dgram'] as const)('UDP receiver, %s reader', (reader) => {
  it('receives IPv4 datagrams as messages, stripping one line end, naming the firewall', async () => {
    h = await startHarness({ udp: { enabled: true, reader } }, { firewalls: [{ source: '127.0.0.0/8', name: 'srx-loopback' }] });
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
    h = await startHarness({ udp: { enabled: true, reader, bind: ['127.0.0.1', '::1'], receiveBufferBytes: 256 * 1024 } });
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
    h = await startHarness({ udp: { enabled: true, reader }, maxMessageBytes: 1024 });
    await send(sender('udp4'), '<30>' + 'x'.repeat(3000), h.port('udp'), '127.0.0.1');
    const [m] = await h.waitForMessages(1);
    expect(m!.truncated).toBe(true);
    expect(m!.bytes.length).toBe(1024);
    expect(await h.counter('truncated', { transport: 'udp' })).toBe(1);
  });

  it('drops senders outside the allow-list: nothing reaches the sink, counters move, logs are rate-limited', async () => {
    h = await startHarness({
      udp: { enabled: true, reader },
      allowedSources: ['192.0.2.0/24', '2001:db8::/32'],
      droppedLogPerMinute: 3,
    });
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
    const err = await startHarness({
      udp: { enabled: true, reader, bind: ['::1', '127.0.0.1'], port: taken.address().port },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PtimError);
    expect((err as PtimError).code).toBe('PTIM_ERR_BIND');
    // The IPv6 socket bound first was released again: the port is free on ::1.
    const probe = sender('udp6');
    probe.bind(taken.address().port, '::1');
    await once(probe, 'listening');
  });

  it('survives a sink that throws: the error is logged and later messages still arrive', async () => {
    h = await startHarness({ udp: { enabled: true, reader } }, { sinkThrowsOn: (m) => m.bytes.toString().includes('boom') });
    const s = sender('udp4');
    await send(s, '<30>boom', h.port('udp'), '127.0.0.1');
    await send(s, '<30>fine', h.port('udp'), '127.0.0.1');
    expect(text(await h.waitForMessages(1))).toEqual(['<30>fine']);
    expect(h.logLines.some((l) => l.msg === 'syslog message handler failed')).toBe(true);
  });

  it('warns at start when the allow-list is the default', async () => {
    h = await startHarness({ udp: { enabled: true, reader } });
    expect(h.logLines.some((l) => l.setting === 'ingest.allowedSources' && /default/.test(String(l.msg)))).toBe(true);
  });

  it('takes the longest datagram whole when maxMessageBytes allows more', async () => {
    h = await startHarness({ udp: { enabled: true, reader }, maxMessageBytes: 1024 * 1024 });
    await send(sender('udp4'), '<30>' + 'z'.repeat(65_000), h.port('udp'), '127.0.0.1');
    const [m] = await h.waitForMessages(1);
    expect([m!.bytes.length, m!.truncated]).toEqual([65_004, false]);
  });

  it('reports its reader with each listener', async () => {
    h = await startHarness({ udp: { enabled: true, reader, bind: ['127.0.0.1', '::1'] } });
    expect(h.receivers.addresses().map((a) => a.reader)).toEqual([reader, reader]);
    expect(h.logLines.filter((l) => l.msg === 'syslog UDP listening').map((l) => l.reader)).toEqual([reader, reader]);
  });

  it('delivers a burst larger than several batches whole and in order, each with its own sender', async () => {
    h = await startHarness({ udp: { enabled: true, reader } }, { firewalls: [{ source: '127.0.0.2/32', name: 'second' }] });
    const first = sender('udp4');
    const second = sender('udp4');
    second.bind(0, '127.0.0.2');
    await once(second, 'listening');
    const n = 600;
    // Sent without waiting for each, so the kernel queues them and the reader meets full batches.
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        send(i % 3 === 0 ? second : first, `<30>line ${i} ${'p'.repeat(i % 97)}`, h!.port('udp'), '127.0.0.1'),
      ),
    );
    const msgs = await h.waitForMessages(n);
    const seen = msgs.map((m) => {
      const i = Number(m.bytes.toString().split(' ')[1]);
      expect(m.bytes.toString()).toBe(`<30>line ${i} ${'p'.repeat(i % 97)}`);
      expect([m.sourceIp, m.sourcePort, m.firewall]).toEqual(
        i % 3 === 0 ? ['127.0.0.2', second.address().port, 'second'] : ['127.0.0.1', first.address().port, undefined],
      );
      return i;
    });
    expect(new Set(seen).size).toBe(n);
    // One sender's datagrams keep their order.
    const fromFirst = seen.filter((i) => i % 3 !== 0);
    expect(fromFirst).toEqual([...fromFirst].sort((a, b) => a - b));
  });
});

// The same datagrams, either reader: the same messages. Around the cut the kernel's (recvmmsg
// reads maxMessageBytes + 2) and the framer's (one LF, CRLF or NUL stripped) rules meet.
describe('UDP readers agree at the size limit', () => {
  it('frames every length around maxMessageBytes, with each line end, as Node dgram does', async () => {
    const max = 1024;
    const datagrams: Buffer[] = [];
    for (let len = max - 2; len <= max + 4; len++)
      for (const end of ['', '\n', '\r\n', '\0'])
        datagrams.push(Buffer.from(`<30>${String(len).padEnd(len - 4 - end.length, 'x')}${end}`, 'latin1'));
    // A line end just past the limit inside a longer datagram: still cut, not a line end.
    for (const end of ['\n', '\r\n', '\0'])
      datagrams.push(Buffer.from(`<30>${'y'.repeat(max + 2 - 4 - end.length)}${end}tail`, 'latin1'));
    const framed: Record<string, string[]> = {};
    for (const reader of ['recvmmsg', 'dgram'] as const) {
      h = await startHarness({ udp: { enabled: true, reader }, maxMessageBytes: max });
      const s = sender('udp4');
      for (const d of datagrams) await send(s, d, h.port('udp'), '127.0.0.1');
      const msgs = await h.waitForMessages(datagrams.length);
      framed[reader] = msgs.map((m) => `${m.bytes.length} ${m.truncated} ${m.bytes.subarray(-2).toString('hex')}`);
      await h.stop();
      h = undefined;
    }
    expect(framed.recvmmsg).toEqual(framed.dgram);
    expect(framed.dgram!.filter((f) => f.includes('true'))).not.toHaveLength(0);
    expect(framed.dgram!.every((f) => Number(f.split(' ')[0]) <= max)).toBe(true);
  });
});
