import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { loadSamples } from '../../fixtures/samples.js';
import { startHarness, text, type Harness } from './harness.js';

let h: Harness | undefined;
const clients: Socket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await h?.stop();
  h = undefined;
});

const FAST = { quietFlushMs: 20, shutdownGraceMs: 200 };

async function client(port: number, host = '127.0.0.1', localAddress?: string): Promise<Socket> {
  const c = connect({ port, host, ...(localAddress ? { localAddress } : {}) });
  clients.push(c);
  c.on('error', () => {});
  await once(c, 'connect');
  return c;
}

const write = (c: Socket, data: string | Buffer) =>
  new Promise<void>((resolve, reject) => c.write(data, (e) => (e ? reject(e) : resolve())));
const octet = (s: string) => `${Buffer.byteLength(s)} ${s}`;
const closed = (c: Socket) => (c.destroyed ? Promise.resolve() : once(c, 'close').then(() => undefined));

describe('TCP receiver', () => {
  it('reassembles frames split across writes and releases the last LF frame when the line goes quiet', async () => {
    h = await startHarness({ tcp: { enabled: true } }, { timing: FAST, firewalls: [{ source: '127.0.0.1', name: 'srx-a' }] });
    const c = await client(h.port('tcp'));
    const wire = '<30>first message\n<30>second message\r\n<30>third';
    for (let k = 0; k < wire.length; k += 7) await write(c, wire.slice(k, k + 7));
    await write(c, ' message\n');
    const msgs = await h.waitForMessages(3);
    expect(text(msgs)).toEqual(['<30>first message', '<30>second message', '<30>third message']);
    expect(msgs[0]).toMatchObject({
      transport: 'tcp',
      sourceIp: '127.0.0.1',
      sourcePort: c.localPort,
      firewall: 'srx-a',
      truncated: false,
    });
    expect(await h.counter('received', { transport: 'tcp' })).toBe(3);
  });

  it('accepts octet-counted and LF frames mixed on one connection', async () => {
    h = await startHarness({ tcp: { enabled: true } }, { timing: FAST });
    const c = await client(h.port('tcp'));
    await write(c, octet('<30>o1 with\nLF inside') + '<30>l1\n' + octet('<30>o2') + '<30>l2\r\n' + octet('<30>o3'));
    const msgs = await h.waitForMessages(5);
    expect(text(msgs)).toEqual(['<30>o1 with\nLF inside', '<30>l1', '<30>o2', '<30>l2', '<30>o3']);
  });

  it('joins a binary IKE-ID split by LF framing (sample C18) and counts the continuation', async () => {
    h = await startHarness({ tcp: { enabled: true } }, { timing: FAST });
    const c18 = loadSamples().find((s) => s.id === 'C18')!.bytes;
    const c = await client(h.port('tcp'));
    await write(c, Buffer.concat([c18, Buffer.from('\n<30>next\n')]));
    const msgs = await h.waitForMessages(2);
    expect(msgs[0]!.bytes.equals(c18)).toBe(true);
    expect(text(msgs.slice(1))).toEqual(['<30>next']);
    expect(await h.counter('continuations', { transport: 'tcp' })).toBe(1);
  });

  it('cuts oversize LF frames and skips oversize octet frames, counting both', async () => {
    h = await startHarness({ tcp: { enabled: true }, maxMessageBytes: 1024 }, { timing: FAST });
    const c = await client(h.port('tcp'));
    await write(c, '<30>' + 'a'.repeat(5000) + '\n' + octet('<30>' + 'b'.repeat(5000)) + '<30>after\n');
    const msgs = await h.waitForMessages(2);
    expect(msgs[0]!.truncated).toBe(true);
    expect(msgs[0]!.bytes.length).toBe(1024);
    expect(text(msgs.slice(1))).toEqual(['<30>after']);
    expect(await h.counter('truncated', { transport: 'tcp' })).toBe(1);
    expect(await h.counter('dropped', { transport: 'tcp', reason: 'oversize' })).toBe(1);
  });

  it('counts junk as bad_frame and resyncs at the next LF', async () => {
    h = await startHarness({ tcp: { enabled: true } }, { timing: FAST });
    const c = await client(h.port('tcp'));
    await write(c, 'this is not syslog\n<30>ok\n');
    expect(text(await h.waitForMessages(1))).toEqual(['<30>ok']);
    expect(await h.counter('dropped', { transport: 'tcp', reason: 'bad_frame' })).toBe(1);
  });

  it('closes connections from senders outside the allow-list at once, before reading anything', async () => {
    h = await startHarness({ tcp: { enabled: true }, allowedSources: ['198.51.100.0/24'] }, { timing: FAST });
    const c = await client(h.port('tcp'));
    c.write('<30>should never arrive\n');
    await closed(c);
    await h.waitUntil('rejection counted', async () => (await h!.counter('rejectedSources', { source: '127.0.0.1' })) === 1);
    expect(await h.counter('dropped', { transport: 'tcp', reason: 'not_allowed' })).toBe(1);
    expect(h.messages).toEqual([]);
    expect(await h.counter('connections', { transport: 'tcp' })).toBe(0);
  });

  it('enforces maxConnections: extra connections are closed and counted, freed slots are reused', async () => {
    h = await startHarness({ tcp: { enabled: true }, maxConnections: 2 }, { timing: FAST });
    const a = await client(h.port('tcp'));
    const b = await client(h.port('tcp'));
    await write(a, '<30>a\n');
    await write(b, '<30>b\n');
    await h.waitForMessages(2);
    expect(await h.counter('connections', { transport: 'tcp' })).toBe(2);
    const extra = await client(h.port('tcp'));
    await closed(extra);
    expect(await h.counter('dropped', { transport: 'tcp', reason: 'connection_limit' })).toBe(1);
    a.end();
    await closed(a);
    await h.waitUntil('slot freed', async () => (await h!.counter('connections', { transport: 'tcp' })) === 1);
    const again = await client(h.port('tcp'));
    await write(again, '<30>again\n');
    await h.waitForMessages(3);
    expect(text(h.messages).sort()).toEqual(['<30>a', '<30>again', '<30>b']);
  });

  it('closes a connection that sends no complete message within the first-frame deadline, and counts it', async () => {
    h = await startHarness({ tcp: { enabled: true } }, { timing: { ...FAST, firstFrameTimeoutMs: 150 } });
    const quietAfterFrame = await client(h.port('tcp'));
    await write(quietAfterFrame, '<30>complete\n');
    await h.waitForMessages(1);
    const drip = await client(h.port('tcp'));
    await write(drip, '<30>never finish');
    await closed(drip);
    expect(await h.counter('dropped', { transport: 'tcp', reason: 'first_frame_timeout' })).toBe(1);
    // The connection that delivered a message opened earlier, with the same deadline: still open.
    await h.waitUntil('the dripping one closed', async () => (await h!.counter('connections', { transport: 'tcp' })) === 1);
    expect(quietAfterFrame.destroyed).toBe(false);
    expect(h.logLines.some((l) => l.event === 'syslog_first_frame_timeout' && l.source === '127.0.0.1')).toBe(true);
  });

  it('gives a configured firewall no first-frame deadline: it may connect long before its first event', async () => {
    h = await startHarness(
      { tcp: { enabled: true } },
      { timing: { ...FAST, firstFrameTimeoutMs: 100 }, firewalls: [{ source: '127.0.0.2', name: 'srx-fw' }] },
    );
    const fw = await client(h.port('tcp'), '127.0.0.1', '127.0.0.2');
    const scan = await client(h.port('tcp'));
    await closed(scan);
    await h.waitUntil('the other source closed', async () => (await h!.counter('connections', { transport: 'tcp' })) === 1);
    expect(fw.destroyed).toBe(false);
    await write(fw, '<30>first event, much later\n');
    expect(text(await h.waitForMessages(1))).toEqual(['<30>first event, much later']);
  });

  it('caps the connections of one source', async () => {
    h = await startHarness({ tcp: { enabled: true }, maxConnectionsPerSource: 3 }, { timing: FAST });
    const port = h.port('tcp');
    const ok = await Promise.all([client(port), client(port), client(port)]);
    await h.waitUntil('3 connections', async () => (await h!.counter('connections', { transport: 'tcp' })) === 3);
    const fourth = await client(port);
    await closed(fourth);
    expect(await h.counter('dropped', { transport: 'tcp', reason: 'source_connection_limit' })).toBe(1);
    const other = await client(port, '127.0.0.1', '127.0.0.3');
    await write(other, '<30>another source\n');
    expect(text(await h.waitForMessages(1))).toEqual(['<30>another source']);
    expect(ok.every((c) => !c.destroyed)).toBe(true);
  });

  it('many slow clients from an allowed source cannot lock out a configured firewall', async () => {
    h = await startHarness(
      { tcp: { enabled: true }, maxConnections: 20, maxConnectionsPerSource: 1000 },
      { timing: FAST, firewalls: [{ source: '127.0.0.2', name: 'srx-fw' }] },
    );
    const port = h.port('tcp');
    // 40 clients dripping bytes of a message they never finish, like 1 byte/s senders (faster
    // here, so the drip goes on all through the test).
    const slow = await Promise.all(Array.from({ length: 40 }, () => client(port)));
    await Promise.all(slow.map((c) => write(c, '<30>')));
    const drip = setInterval(() => {
      for (const c of slow) if (!c.destroyed) c.write('x');
    }, 20);
    onTestFinished(() => clearInterval(drip));
    await h.waitUntil(
      'table full, the rest refused',
      async () => (await h!.counter('dropped', { transport: 'tcp', reason: 'connection_limit' })) === 20,
    );
    expect(await h.counter('connections', { transport: 'tcp' })).toBe(20);
    const fw = await client(port, '127.0.0.1', '127.0.0.2');
    await write(fw, '<30>Mar  3 14:02:11 srx kmd[1]: KMD_VPN_UP_ALARM_USER: line 1\n');
    await write(fw, '<30>Mar  3 14:02:12 srx kmd[1]: KMD_VPN_DOWN_ALARM_USER: line 2\n');
    const fromFirewall = () => h!.messages.filter((m) => m.firewall === 'srx-fw');
    await h.waitUntil('both firewall lines', () => fromFirewall().length === 2);
    expect(text(fromFirewall())).toEqual([
      '<30>Mar  3 14:02:11 srx kmd[1]: KMD_VPN_UP_ALARM_USER: line 1',
      '<30>Mar  3 14:02:12 srx kmd[1]: KMD_VPN_DOWN_ALARM_USER: line 2',
    ]);
    expect(await h.counter('dropped', { transport: 'tcp', reason: 'evicted' })).toBe(1);
    expect(await h.counter('connections', { transport: 'tcp' })).toBe(20);
    // A slow client does not get back in.
    const late = await client(port);
    await closed(late);
    expect(await h.counter('dropped', { transport: 'tcp', reason: 'connection_limit' })).toBe(21);
  });

  it('serves many concurrent connections over IPv4 and IPv6', async () => {
    h = await startHarness({ tcp: { enabled: true, bind: ['127.0.0.1', '::1'] }, maxConnectionsPerSource: 64 }, { timing: FAST });
    const conns = await Promise.all(
      Array.from({ length: 40 }, (_, k) => client(h!.port('tcp', k % 2 ? 'IPv6' : 'IPv4'), k % 2 ? '::1' : '127.0.0.1')),
    );
    await Promise.all(
      conns.map((c, k) =>
        write(c, Array.from({ length: 25 }, (_, j) => (j % 2 ? octet(`<30>c${k} m${j}`) : `<30>c${k} m${j}\n`)).join('')),
      ),
    );
    const msgs = await h.waitForMessages(1000, 10_000);
    expect(new Set(text(msgs)).size).toBe(1000);
    expect(new Set(msgs.map((m) => m.sourceIp))).toEqual(new Set(['127.0.0.1', '::1']));
    // Per connection, order is kept.
    const c7 = text(msgs).filter((t) => t.startsWith('<30>c7 '));
    expect(c7).toEqual(Array.from({ length: 25 }, (_, j) => `<30>c7 m${j}`));
    for (const c of conns) c.end();
    await Promise.all(conns.map(closed));
    await h.waitUntil('all closed', async () => (await h!.counter('connections', { transport: 'tcp' })) === 0);
  });

  it('stop() delivers pending frames, closes every connection and stops accepting', async () => {
    h = await startHarness({ tcp: { enabled: true } }, { timing: { ...FAST, quietFlushMs: 60_000 } });
    const port = h.port('tcp');
    const conns = await Promise.all([client(port), client(port), client(port)]);
    await Promise.all(conns.map((c, k) => write(c, `<30>pending ${k}\n`)));
    await h.waitUntil('3 connections', async () => (await h!.counter('connections', { transport: 'tcp' })) === 3);
    // A stubborn client that never half-closes is destroyed after the grace period.
    conns[0]!.allowHalfOpen = true;
    const stubbornEnded = once(conns[0]!, 'end');
    await h.stop();
    await Promise.all([stubbornEnded, closed(conns[1]!), closed(conns[2]!)]);
    expect(await h.counter('dropped', { transport: 'tcp', reason: 'shutdown' })).toBe(1);
    expect(text(h.messages).sort()).toEqual(['<30>pending 0', '<30>pending 1', '<30>pending 2']);
    expect(await h.counter('connections', { transport: 'tcp' })).toBe(0);
    expect(h.receivers.ready()).toBe(false);
    const refused = connect({ port, host: '127.0.0.1' });
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
  });
});
