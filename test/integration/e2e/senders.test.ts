// Conformance with real syslog senders: util-linux `logger`, rsyslog `omfwd` (UDP, TCP, TLS with
// gtls; LF and octet framing; traditional, forward and RFC 5424 templates), syslog-ng
// `network()` and `syslog()`, and Python's `SysLogHandler` (UDP, TCP with and without NUL).
// Each runs as this test's own process (test/helpers/senders.ts) and delivers sample SRX lines;
// the identities in the JIMS simulator must then be exactly right. One bridge serves every case.
// Senders that are not installed are left out here; CI installs them all (.ci/run) and sets
// PTIM_REQUIRE_SENDERS so that a missing one fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSamples } from '../../fixtures/samples.js';
import { makeCerts } from '../../helpers/certs.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { SENDER_CASES, senderInstalled, type SenderCase } from '../../helpers/senders.js';
import {
  accounting,
  e2eConfig,
  show,
  startBridge,
  startSim,
  tableOf,
  waitFor,
  type Bridge,
  type SimHandle,
  type Truth,
} from './harness.js';

/** UP lines: iked (C10), kmd with `%DAEMON-6-` (C5), SRX5k SPC prefix (C7), user without domain (C12), C19. */
const UP = ['C10', 'C5', 'C7', 'C12', 'C19'];
/** DOWN lines for two of them (C6 has a year and milliseconds in its timestamp). */
const DOWN = ['C11', 'C6'];

const AFTER_UP: Truth = new Map([
  ['10.20.0.42', { user: 'bob', domain: 'example.com' }],
  ['10.10.50.11', { user: 'alice', domain: 'example.com' }],
  ['10.10.60.7', { user: 'dave', domain: 'example.com' }],
  ['10.20.0.43', { user: 'carol', domain: 'example' }],
  ['10.30.0.9', { user: 'erin', domain: 'example.com' }],
]);
const AFTER_DOWN: Truth = new Map([...AFTER_UP].filter(([ip]) => ip !== '10.20.0.42' && ip !== '10.10.50.11'));

const samples = loadSamples();
const bytesOf = (ids: string[]) => ids.map((id) => samples.find((s) => s.id === id)!.bytes);

let redis: TestRedis;
let jims: SimHandle;
let bridge: Bridge;
const certs = makeCerts();

beforeAll(async () => {
  redis = await startRedis();
  jims = await startSim();
  bridge = await startBridge(
    e2eConfig(redis, jims.port, {
      ingest: { tls: { enabled: true, bind: ['127.0.0.1'], port: 0, certFile: certs.certFile, keyFile: certs.keyFile } },
      firewalls: [{ source: '127.0.0.1', name: 'srx-via-relay' }],
    }),
  );
});

afterAll(async () => {
  await bridge?.stop();
  await jims?.sim.close();
  await redis?.stop();
});

function target(c: SenderCase) {
  const a = bridge.app.addresses().syslog.find((x) => x.transport === c.transport)!;
  return { port: a.port, transport: c.transport, caFile: certs.caFile };
}

async function settleTo(want: Truth, what: string) {
  await waitFor(async () => (await accounting(bridge.metrics)).settled && tableOf(jims.sim).size === want.size, {
    timeoutMs: 20_000,
    what,
  });
  expect(show(tableOf(jims.sim))).toEqual(show(want));
}

const installed = SENDER_CASES.filter(senderInstalled);

describe('real senders deliver the sample VPN lines with exactly the right identities', () => {
  it('has every sender installed where CI requires them', () => {
    const missing = SENDER_CASES.filter((c) => !senderInstalled(c)).map((c) => c.id);
    if (process.env.PTIM_REQUIRE_SENDERS) expect(missing).toEqual([]);
    expect(installed.length + missing.length).toBe(SENDER_CASES.length);
  });

  it.each(installed.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    // A new round: past the duplicate window, so still-connected users are rekeys (pushed again).
    bridge.clock.advance(60_000);
    jims.sim.reset();
    const sender = await c.start(target(c));
    try {
      await sender.send(bytesOf(UP));
      await settleTo(AFTER_UP, `${c.id}: the UP identities`);
      await sender.send(bytesOf(DOWN));
      await settleTo(AFTER_DOWN, `${c.id}: the DOWNs applied`);
    } finally {
      await sender.stop();
    }
  });
});
