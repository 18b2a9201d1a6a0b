// The operator's happy path, end to end over real sockets: syslog in (UDP and TCP), the session
// decisions (connect, suppressed duplicate, rekey, replace, disconnect, dual-stack), pushes
// applied by the JIMS simulator, and the ops /metrics counters that show it.
import { beforeAll, describe, expect, it } from 'vitest';
import { accounting, e2eConfig, parseExposition, useStack, vpnLine, waitFor, waitReceived, type Bridge } from './harness.js';

const stack = useStack();
let bridge: Bridge;
let sent = 0;

beforeAll(async () => {
  bridge = await stack.bridge(e2eConfig(stack.redis, stack.jims.port));
});

/** Sends lines, waits until the bridge received and applied them, then until every event settled. */
async function deliver(lines: string[], transport: 'udp' | 'tcp') {
  await bridge.send(lines, transport);
  sent += lines.length;
  await waitReceived(bridge, sent);
  await bridge.applied();
  await waitFor(async () => (await accounting(bridge.metrics)).settled, { what: 'every identity event settled' });
}

const lastOps = (ip: string, n: number) =>
  stack.jims.sim
    .operations()
    .filter((o) => o.ip === ip)
    .slice(-n)
    .map((o) => `${o.op} ${o.user}@${o.domain} ${o.event}`);

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${bridge.opsUrl()}/metrics`);
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

describe.each([
  ['udp', '192.0.2.10', '192.0.2.11'],
  ['tcp', '192.0.2.20', '192.0.2.21'],
] as const)('over %s', (transport, ip, ip2) => {
  it('UP connects, a repeat inside the window is suppressed, after it is a rekey, DOWN disconnects', async () => {
    const before = await scrape();
    const up = vpnLine({ kind: 'up', user: 'alice@example.com', ip, tunnelId: 7001 });

    await deliver([up], transport);
    expect(stack.jims.sim.identities()[ip]).toMatchObject({ user: 'alice', domain: 'example.com' });
    expect(lastOps(ip, 1)).toEqual(['logon alice@example.com connect']);

    // A second traffic selector / HA peer / UDP duplicate within duplicateWindowSecs: nothing pushed.
    const pushes = stack.jims.sim.counters().pushes;
    const suppressed = await bridge.metric('ptim_session_decisions_total', { decision: 'suppressed' });
    await deliver([up], transport);
    expect(await bridge.metric('ptim_session_decisions_total', { decision: 'suppressed' })).toBe(suppressed + 1);
    expect(stack.jims.sim.counters().pushes).toBe(pushes);

    // The same UP after the window is the rekey: JIMS refreshes the mapping.
    const refreshes = stack.jims.sim.counters().refreshes;
    bridge.clock.advance(6000);
    await deliver([up], transport);
    expect(lastOps(ip, 1)).toEqual(['logon alice@example.com rekey']);
    expect(stack.jims.sim.counters().refreshes).toBe(refreshes + 1);

    await deliver([vpnLine({ kind: 'down', user: 'alice@example.com', ip, tunnelId: 7001 })], transport);
    expect(stack.jims.sim.identities()[ip]).toBeUndefined();
    expect(lastOps(ip, 1)).toEqual(['logoff alice@example.com disconnect']);

    const after = await scrape();
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(delta('ptim_identity_events_total{kind="connect"}')).toBe(1);
    expect(delta('ptim_identity_events_total{kind="rekey"}')).toBe(1);
    expect(delta('ptim_identity_events_total{kind="disconnect"}')).toBe(1);
    expect(delta('ptim_push_total{outcome="delivered"}')).toBe(3);
    expect(delta(`ptim_syslog_received_total{transport="${transport}"}`)).toBe(4);
    // Readiness is a metric too (what the NotReady alert watches), refreshed at the scrape.
    expect(after.get('ptim_ready')).toBe(1);
    expect(after.get('ptim_ready_check{check="redis"}')).toBe(1);
  });

  it('another user taking the IP logs the old one off, then the new one on', async () => {
    await deliver([vpnLine({ kind: 'up', user: 'alice@example.com', ip: ip2, tunnelId: 7100 })], transport);
    await deliver([vpnLine({ kind: 'up', user: 'bob@example.com', ip: ip2, tunnelId: 7101 })], transport);
    expect(lastOps(ip2, 3)).toEqual([
      'logon alice@example.com connect',
      'logoff alice@example.com disconnect',
      'logon bob@example.com connect',
    ]);
    expect(stack.jims.sim.identities()[ip2]).toMatchObject({ user: 'bob', domain: 'example.com' });

    // alice's late DOWN must not log bob out.
    await deliver([vpnLine({ kind: 'down', user: 'alice@example.com', ip: ip2, tunnelId: 7100 })], transport);
    expect(stack.jims.sim.identities()[ip2]).toMatchObject({ user: 'bob' });
  });
});

it('a dual-stack line (IPv4 + IPv6) maps both addresses, and its DOWN removes both', async () => {
  const v4 = '192.0.2.60';
  const v6 = '2001:db8:141::60';
  const dual = (kind: 'up' | 'down') =>
    vpnLine({ kind, user: 'carol@example.com', ip: v4, tunnelId: 7200 }).replace(
      `ipv4(0,0-65535,${v4}-${v4})`,
      `ipv4(0,0-65535,${v4}-${v4}) ipv6(0,0-65535,${v6}-${v6})`,
    );
  await deliver([dual('up')], 'tcp');
  const ids = stack.jims.sim.identities();
  expect(ids[v4]).toMatchObject({ user: 'carol', domain: 'example.com' });
  expect(ids[v6]).toMatchObject({ user: 'carol', domain: 'example.com' });

  await deliver([dual('down')], 'udp');
  expect(stack.jims.sim.identities()[v4]).toBeUndefined();
  expect(stack.jims.sim.identities()[v6]).toBeUndefined();
});
