// Hostile or broken input end to end: binary garbage, oversize frames, and a perfectly valid UP
// from a sender outside the allow-list must push nothing to JIMS, and must show in the counters
// an operator watches. The allow-list admits ::1 only, so 127.0.0.1 is the "foreign firewall".
import { beforeAll, expect, it } from 'vitest';
import { sendLines } from '../../../src/cli/send.js';
import { accounting, e2eConfig, useStack, vpnLine, waitFor, waitReceived, type Bridge } from './harness.js';

const stack = useStack();
let bridge: Bridge;

beforeAll(async () => {
  bridge = await stack.bridge(
    e2eConfig(stack.redis, stack.jims.port, {
      ingest: {
        udp: { bind: ['127.0.0.1', '::1'], port: 0 },
        tcp: { bind: ['::1'], port: 0 },
        allowedSources: ['::1/128'],
        maxMessageBytes: 1024,
      },
    }),
  );
});

const port = (transport: 'udp' | 'tcp', address: string) => {
  const a = bridge.app.addresses().syslog.find((x) => x.transport === transport && x.address === address);
  if (!a) throw new Error(`no ${transport} listener on ${address}`);
  return a.port;
};
const dropped = (transport: string, reason: string) => bridge.metric('ptim_syslog_dropped_total', { transport, reason });

it('garbage, oversize frames and a valid UP from a disallowed source push nothing, and are counted', async () => {
  const pushesBefore = stack.jims.sim.counters();
  const up = vpnLine({ kind: 'up', user: 'mallory@example.com', ip: '203.0.113.66' });

  // 1. A valid UP, but from 127.0.0.1 (not allowed).
  await sendLines([up], { host: '127.0.0.1', port: port('udp', '127.0.0.1'), transport: 'udp' });
  await waitFor(async () => (await dropped('udp', 'not_allowed')) === 1, { what: 'the disallowed UP dropped' });
  expect(await bridge.metric('ptim_syslog_rejected_sources_total', { source: '127.0.0.1' })).toBe(1);

  // 2. Binary garbage from an allowed source, one piece carrying the UP tag (a near miss).
  const garbage = Buffer.from([0x00, 0xff, 0xfe, 0x1b, 0x5b, 0x80, 0x0a, 0x0d, 0xc3, 0x28]);
  const tagged = Buffer.concat([
    Buffer.from('<30>iked: IKE_VPN_UP_ALARM_USER: VPN '),
    garbage,
    Buffer.from(' is up. AAA username: \xff'),
  ]);
  await sendLines([garbage, tagged], { host: '::1', port: port('udp', '::1'), transport: 'udp' });
  await waitReceived(bridge, 2);
  await waitFor(async () => (await bridge.metric('ptim_pattern_near_miss_total')) >= 1, { what: 'a near miss counted' });

  // 3. Oversize: a datagram cut at maxMessageBytes, and an octet-counted TCP frame over the limit skipped.
  const padded = `${up}, ${'x'.repeat(3000)}`;
  await sendLines([padded], { host: '::1', port: port('udp', '::1'), transport: 'udp' });
  await waitFor(async () => (await bridge.metric('ptim_syslog_truncated_total', { transport: 'udp' })) === 1, {
    what: 'a truncated datagram',
  });
  const huge = Buffer.from(`5000 ${'<30>'.padEnd(5000, 'y')}`);
  await sendLines([huge], { host: '::1', port: port('tcp', '::1'), transport: 'tcp' });
  await waitFor(async () => (await dropped('tcp', 'oversize')) === 1, { what: 'the oversize TCP frame dropped' });

  await bridge.applied();
  await waitFor(async () => (await accounting(bridge.metrics)).settled, { what: 'nothing left to push' });
  expect(stack.jims.sim.counters()).toEqual(pushesBefore);
  expect(stack.jims.sim.identities()).toEqual({});

  // The same UP from the allowed source does get through: the silence above was not a dead pipeline.
  await sendLines([up], { host: '::1', port: port('udp', '::1'), transport: 'udp' });
  await waitFor(() => stack.jims.sim.identities()['203.0.113.66']?.user === 'mallory', { what: 'the allowed UP pushed' });
});
