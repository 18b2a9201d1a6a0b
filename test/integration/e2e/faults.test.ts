// Faults an operator will meet — JIMS failing, offline, expiring tokens, a dead primary, a Redis
// restart — while syslog keeps arriving. After each: JIMS's table equals what the lines imply,
// every identity event is delivered or accounted for, and no IP ever got an older state after a
// newer one (the push body carries seq, the simulator logs it in application order).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { SimOpLogEntry } from '../../../src/jims-sim/state.js';
import { createPushQueue } from '../../../src/queue/jobs.js';
import { keyspace } from '../../../src/redis/keys.js';
import {
  accounting,
  e2eConfig,
  manualClock,
  orderViolations,
  sameTable,
  show,
  startBridge,
  startRedis,
  startSim,
  truthOf,
  vpnLine,
  waitFor,
  waitReceived,
  type Bridge,
  type LineSpec,
  type ManualClock,
  type SimHandle,
  type TestRedis,
  type Truth,
} from './harness.js';

const USERS = ['alice', 'bob', 'carol', 'dave'];

/**
 * A deterministic stream of UP/DOWN lines over `ipCount` IPs: connects, repeats (suppressed or
 * rekeys depending on the clock), takeovers by another user, and disconnects by the owner.
 */
function stream(base: string, ipCount: number, n: number, seed: number): LineSpec[] {
  let x = seed;
  const rnd = (k: number) => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return (x >>> 16) % k; // the high bits: an LCG's low bits cycle quickly
  };
  const owner = new Map<string, string>();
  const out: LineSpec[] = [];
  for (let i = 0; i < n; i++) {
    const ip = `${base}.${10 + rnd(ipCount)}`;
    const cur = owner.get(ip);
    const r = rnd(10);
    let spec: LineSpec;
    if (cur && r < 3) spec = { kind: 'down', user: cur, ip };
    else if (cur && r < 6) spec = { kind: 'up', user: cur, ip };
    else spec = { kind: 'up', user: USERS[rnd(USERS.length)]!, ip };
    if (spec.kind === 'up') owner.set(ip, spec.user);
    else owner.delete(ip);
    out.push({ ...spec, user: `${spec.user}@example.com` });
  }
  return out;
}

const toLine = (s: LineSpec) => {
  const ipIdx = Number(s.ip.split('.').pop());
  const userIdx = USERS.indexOf(s.user.split('@')[0]!);
  return vpnLine({ kind: s.kind, user: s.user, ip: s.ip, tunnelId: 100000 + ipIdx * 10 + userIdx });
};

/** JIMS's table after replaying operations (logoff removes only the owner's mapping, as the simulator). */
function replay(ops: readonly SimOpLogEntry[]): Truth {
  const t: Truth = new Map();
  for (const o of ops) {
    if (o.op === 'logon') t.set(o.ip, { user: o.user, domain: o.domain });
    else if (t.get(o.ip)?.user === o.user) t.delete(o.ip);
  }
  return t;
}

const only = (t: Truth, ips: Set<string>): Truth => new Map([...t].filter(([ip]) => ips.has(ip)));

interface Ctx {
  bridge: Bridge;
  clock: ManualClock;
  sent: number;
  redis: TestRedis;
}

/** What is still in flight (for a failure message): job counts, unfinished jobs, outbox. */
async function queueState(ctx: Ctx) {
  const r = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  const q = createPushQueue(r, ctx.redis.keyPrefix);
  try {
    const counts = await q.getJobCounts();
    const jobs = await q.getJobs(['waiting', 'delayed', 'active', 'failed', 'prioritized', 'waiting-children'], 0, 50);
    const unfinished = await Promise.all(
      jobs.map(async (j) => `${j.id}:${await j.getState()}:${j.attemptsMade}:${j.failedReason ?? ''}`),
    );
    const ks = keyspace(ctx.redis.keyPrefix);
    return {
      counts,
      unfinished,
      outbox: await r.xlen(ks.outbox),
      pending: await r.xpending(ks.outbox, 'relay').catch(() => null),
    };
  } finally {
    await q.close();
    r.disconnect();
  }
}

/** Sends lines one at a time over TCP, advancing the bridge clock 1.5 s per line (mixing duplicates and rekeys). */
async function sendStream(ctx: Ctx, lines: readonly LineSpec[]) {
  for (const l of lines) {
    ctx.clock.advance(1500);
    await ctx.bridge.send([toLine(l)], 'tcp');
    ctx.sent++;
    await waitReceived(ctx.bridge, ctx.sent);
  }
}

/** Waits for the end state and checks the three invariants for the IPs of `lines`. */
async function expectConverged(ctx: Ctx, lines: readonly LineSpec[], ops: () => readonly SimOpLogEntry[], timeoutMs = 10_000) {
  const truth = truthOf(lines);
  const ips = new Set(lines.map((l) => l.ip));
  const table = () => only(replay(ops()), ips);
  await ctx.bridge.applied();
  try {
    await waitFor(async () => (await accounting(ctx.bridge.metrics)).settled && sameTable(table(), truth), {
      timeoutMs,
      what: 'JIMS table equal to the truth with every event settled',
    });
  } catch (e) {
    const detail = { accounting: await accounting(ctx.bridge.metrics), queue: await queueState(ctx) };
    throw new Error(`${(e as Error).message}\n${JSON.stringify(detail, null, 1)}`);
  } finally {
    // On timeout, show the difference (and how each differing IP got there) rather than just "timed out".
    const got = table();
    const differing = [...ips].filter((ip) => JSON.stringify(got.get(ip)) !== JSON.stringify(truth.get(ip)));
    const history = differing.map((ip) => ({
      ip,
      lines: lines.filter((l) => l.ip === ip).map((l) => `${l.kind} ${l.user}`),
      ops: ops()
        .filter((o) => o.ip === ip)
        .map((o) => `${o.op} ${o.user} seq=${o.seq} ${o.event} ${o.result}`),
    }));
    expect(show(got), JSON.stringify({ accounting: await accounting(ctx.bridge.metrics), history }, null, 1)).toEqual(
      show(truth),
    );
  }
  const acc = await accounting(ctx.bridge.metrics);
  expect(acc.permanent).toBe(0);
  expect(acc.delivered + acc.superseded).toBe(acc.events);
  expect(await ctx.bridge.metric('ptim_session_buffer_dropped_total')).toBe(0);
  expect(orderViolations(ops().filter((o) => ips.has(o.ip)))).toEqual([]);
}

describe('one JIMS server', () => {
  let redis: TestRedis;
  let jims: SimHandle;
  const ctx = {} as Ctx;

  beforeAll(async () => {
    redis = await startRedis({ appendonly: true });
    ctx.clock = manualClock();
    // The simulator shares the bridge's clock, so token lifetimes can expire without sleeping.
    jims = await startSim({ clock: ctx.clock });
    ctx.bridge = await startBridge(e2eConfig(redis, jims.port, { jims: { tokenRefreshMarginSecs: 0 } }), ctx.clock);
    ctx.sent = 0;
    ctx.redis = redis;
  });
  afterEach(() => {
    jims.sim.setFaults({ offline: false, errorRate: 0, pushStatus: null, retryAfter: null, tokenLifetimeSecs: null });
  });
  afterAll(async () => {
    await ctx.bridge?.stop();
    await jims?.sim.close();
    await redis?.stop();
  });

  const ops = () => jims.sim.operations();

  it('a) JIMS answering 503 for a while, then recovering: nothing lost, nothing out of order', async () => {
    const lines = stream('192.0.2', 6, 30, 1);
    jims.sim.setFaults({ errorRate: 1 });
    await sendStream(ctx, lines.slice(0, 10));
    await waitFor(() => jims.sim.counters().errorsInjected >= 5, { what: 'injected 503s' });
    jims.sim.setFaults({ errorRate: 0, pushStatus: 503, retryAfter: '0' });
    await sendStream(ctx, lines.slice(10, 20));
    await waitFor(() => jims.sim.counters().statusInjected >= 5, { what: 'injected 503 statuses' });
    jims.sim.setFaults({ pushStatus: null, retryAfter: null });
    await sendStream(ctx, lines.slice(20));
    await expectConverged(ctx, lines, ops);
    expect(await ctx.bridge.metric('ptim_push_total', { outcome: 'retry' })).toBeGreaterThan(0);
  });

  it('b) JIMS offline (refusing, then hanging), then back', async () => {
    const lines = stream('198.51.100', 6, 30, 2);
    jims.sim.setFaults({ offline: 'refuse' });
    await sendStream(ctx, lines.slice(0, 12));
    await waitFor(() => jims.sim.counters().dropped >= 3, { what: 'refused connections' });
    jims.sim.setFaults({ offline: 'hang' });
    await sendStream(ctx, lines.slice(12, 24));
    await waitFor(() => jims.sim.counters().hung >= 3, { what: 'hung requests' });
    jims.sim.setFaults({ offline: false });
    await sendStream(ctx, lines.slice(24));
    await expectConverged(ctx, lines, ops);
  });

  it('c) tokens revoked and expiring mid-run are refreshed; nothing lost', async () => {
    const lines = stream('203.0.113', 6, 30, 3);
    const tokens = jims.sim.counters().tokens;
    await sendStream(ctx, lines.slice(0, 10));
    await expectConverged(ctx, lines.slice(0, 10), ops);
    jims.sim.revokeTokens();
    await sendStream(ctx, lines.slice(10, 20));
    await waitFor(() => jims.sim.counters().unauthorized >= 1, { what: 'a 401 for a revoked token' });
    // The 401 is counted before the bridge's token request that answers it arrives.
    await waitFor(() => jims.sim.counters().tokens >= tokens + 1, { what: 'a new token after the 401' });
    // New tokens now live 5 s of the shared clock; the stream advances it 1.5 s per line.
    jims.sim.setFaults({ tokenLifetimeSecs: 5 });
    jims.sim.revokeTokens();
    const before = jims.sim.counters().tokens;
    await sendStream(ctx, lines.slice(20));
    await expectConverged(ctx, lines, ops);
    // Whatever token the stream ended with has expired 10 s later: the next push needs a new one.
    const late: LineSpec = { kind: 'up', user: 'alice@example.com', ip: '203.0.113.99' };
    ctx.clock.advance(10_000);
    await sendStream(ctx, [late]);
    await expectConverged(ctx, [...lines, late], ops);
    expect(jims.sim.counters().tokens).toBeGreaterThanOrEqual(before + 2);
  });

  it('e) Redis killed and restarted while lines keep arriving: buffered, then applied and delivered', async () => {
    const lines = stream('192.0.2', 5, 24, 4).map((l) => ({ ...l, ip: l.ip.replace('192.0.2.', '192.0.2.1') }));
    await sendStream(ctx, lines.slice(0, 8));
    await ctx.bridge.applied();
    await redis.kill();
    await sendStream(ctx, lines.slice(8, 16));
    await waitFor(async () => (await ctx.bridge.metric('ptim_session_buffer_events')) > 0, { what: 'events held in memory' });
    const ready = await fetch(`${ctx.bridge.opsUrl()}/readyz`);
    expect(ready.status).toBe(503);
    await redis.restart();
    await sendStream(ctx, lines.slice(16));
    await expectConverged(ctx, lines, ops, 15_000);
    expect(await ctx.bridge.metric('ptim_session_buffer_events')).toBe(0);
  });
});

describe('two JIMS servers', () => {
  let redis: TestRedis;
  let primary: SimHandle;
  let secondary: SimHandle;
  const ctx = {} as Ctx;

  beforeAll(async () => {
    redis = await startRedis();
    primary = await startSim();
    secondary = await startSim();
    ctx.clock = manualClock();
    const cfg = e2eConfig(redis, primary.port, {
      jims: {
        secondary: {
          host: '127.0.0.1',
          port: secondary.port,
          scheme: 'http',
          clientId: 'ptim-e2e',
          clientSecret: 'e2e-secret-not-real',
        },
        failoverAfterFailures: 2,
        primaryProbeIntervalSecs: 3600,
      },
    });
    ctx.bridge = await startBridge(cfg, ctx.clock);
    ctx.sent = 0;
    ctx.redis = redis;
  });
  afterAll(async () => {
    await ctx.bridge?.stop();
    await primary?.sim.close();
    await secondary?.sim.close();
    await redis?.stop();
  });

  it('d) primary down ⇒ the secondary gets the pushes; the combined history ends in the truth', async () => {
    const lines = stream('198.51.100', 6, 30, 5);
    await sendStream(ctx, lines.slice(0, 10));
    // Both simulators stamp operations with the real time, so their logs merge in application order.
    const merged = () => [...primary.sim.operations(), ...secondary.sim.operations()].sort((a, b) => a.at - b.at);
    await expectConverged(ctx, lines.slice(0, 10), merged);
    expect(secondary.sim.counters().pushes).toBe(0);

    primary.sim.setFaults({ offline: 'refuse' });
    await sendStream(ctx, lines.slice(10));
    await expectConverged(ctx, lines, merged);
    expect(secondary.sim.counters().pushes).toBeGreaterThan(0);
    expect(await ctx.bridge.metric('ptim_jims_failovers_total', { to: 'secondary' })).toBeGreaterThanOrEqual(1);
  });
});
