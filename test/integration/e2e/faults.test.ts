// Faults an operator will meet — JIMS failing, offline, expiring tokens, a dead primary, a Redis
// restart — while syslog keeps arriving. After each: JIMS's table equals what the lines imply,
// every identity event is delivered or accounted for, and no IP ever got an older state after a
// newer one (the push body carries seq, the simulator logs it in application order).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectConverged, sendStream, stream, type Ctx } from './convergence.js';
import {
  accounting,
  e2eConfig,
  manualClock,
  startBridge,
  startRedis,
  startSim,
  waitFor,
  type LineSpec,
  type SimHandle,
  type TestRedis,
} from './harness.js';

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
    // One line at a time, each settled before the clock moves on: a push in flight while the test
    // advances the shared clock would meet a token that expired on its way (a second 401 is, by
    // design, a permanent refusal), which only a busy host makes likely.
    for (const l of lines.slice(20)) {
      await sendStream(ctx, [l]);
      await waitFor(async () => (await accounting(ctx.bridge.metrics)).settled, {
        what: 'the line pushed before the clock moves',
      });
    }
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
