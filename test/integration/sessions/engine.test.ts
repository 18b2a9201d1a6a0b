import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defaultConfig } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/log.js';
import { createMetrics, type Metrics } from '../../../src/ops/metrics.js';
import { createSessionEngine } from '../../../src/sessions/engine.js';
import { countSessions, listSessions } from '../../../src/sessions/query.js';
import type { VpnEvent } from '../../../src/types.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';
import { readOutbox } from './redis-state.js';

let server: TestRedis;
let redis: Redis;

beforeAll(async () => {
  // AOF so the outbox written before the kill is still there after the restart.
  server = await startRedis({ appendonly: true });
  // Fail fast while Redis is down (the engine buffers and retries itself).
  redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 20 });
  redis.on('error', () => {});
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const T0 = 1_700_000_000_000;

function vpn(kind: VpnEvent['kind'], user: string, ips: string[], over: Partial<VpnEvent> = {}): VpnEvent {
  return { kind, user, domain: 'example.com', ips, firewall: 'srx-a', vpn: 'ra-vpn', patternId: 'test', receivedAt: T0, ...over };
}

function setup(prefix: string, sessions: Partial<ReturnType<typeof defaultConfig>['sessions']> = {}, level = 'info') {
  const metrics = createMetrics();
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  let now = T0;
  const clock = { now: () => now };
  const cfg = { ...defaultConfig().sessions, ...sessions };
  const engine = createSessionEngine({
    redis,
    cfg,
    keyPrefix: prefix,
    metrics,
    logger,
    clock,
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 100,
  });
  return { engine, metrics, lines, advance: (ms: number) => (now += ms) };
}

const value = async (m: Metrics, name: keyof Metrics, labels: Record<string, string> = {}) => {
  const metric = m[name] as { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> };
  const v = (await metric.get()).values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
};

describe('session engine', () => {
  it('applies each IP of an event as its own session and writes the outbox', async () => {
    const prefix = `${server.keyPrefix}a`;
    const { engine, metrics, lines } = setup(prefix, {}, 'debug');
    engine.submit(vpn('up', 'alice', ['192.0.2.10', '2001:DB8:0::10'], { tunnelId: '7' }), 'corr-1');
    engine.submit(vpn('up', 'bob', ['not-an-ip']), 'corr-2');
    await engine.drain();
    expect(engine.ready()).toBe(true);

    const outbox = await readOutbox(redis, prefix);
    expect(outbox.map((e) => [e.ipKey, e.event.kind, e.event.ip, e.event.user, e.event.seq, e.event.correlationId])).toEqual([
      ['192.0.2.10', 'connect', '192.0.2.10', 'alice', 1, 'corr-1'],
      ['2001_db8__10', 'connect', '2001:db8::10', 'alice', 1, 'corr-1'],
    ]);
    expect(await value(metrics, 'decisions', { decision: 'connect' })).toBe(2);
    expect(await value(metrics, 'identityEvents', { kind: 'connect' })).toBe(2);
    expect(await value(metrics, 'ignored', { reason: 'no_ip' })).toBe(1);
    expect(await value(metrics, 'sessionsActive')).toBe(2);
    expect(await countSessions(redis, prefix)).toBe(2);
    const sessions = await listSessions(redis, prefix);
    expect(sessions.map((s) => [s.ip, s.user, s.domain, s.firewall, s.vpn, s.since, s.seq, s.tunnels])).toEqual([
      ['192.0.2.10', 'alice', 'example.com', 'srx-a', 'ra-vpn', T0, 1, ['7']],
      ['2001:db8::10', 'alice', 'example.com', 'srx-a', 'ra-vpn', T0, 1, ['7']],
    ]);
    // One log line per decision, with what an operator needs to follow it; at debug when it
    // emitted events (each push outcome line carries its event).
    expect(lines.filter((l) => l.msg === 'session decision')[0]).toMatchObject({
      level: 20,
      decision: 'connect',
      user: 'alice',
      domain: 'example.com',
      ip: '192.0.2.10',
      seq: 1,
      firewall: 'srx-a',
      correlationId: 'corr-1',
      emitted: ['connect'],
    });
    await engine.close();
  });

  it('logs at info the decisions that send nothing, and not those that emit events', async () => {
    const prefix = `${server.keyPrefix}log`;
    const { engine, lines } = setup(prefix);
    engine.submit(vpn('up', 'alice', ['192.0.2.20'], { receivedAt: T0 + 1000 }), 'corr-new');
    await engine.drain();
    engine.submit(vpn('down', 'alice', ['192.0.2.20'], { receivedAt: T0 }), 'corr-old');
    await engine.drain();
    expect(lines.filter((l) => l.msg === 'session decision')).toEqual([
      expect.objectContaining({ level: 30, decision: 'out_of_order', correlationId: 'corr-old', emitted: [] }),
    ]);
    await engine.close();
  });

  it('keeps submission order per IP across pipelined batches', async () => {
    const prefix = `${server.keyPrefix}b`;
    const { engine } = setup(prefix);
    for (let i = 0; i < 250; i++) {
      engine.submit(vpn(i % 2 ? 'down' : 'up', 'alice', ['198.51.100.7'], { receivedAt: T0 + i * 10_000 }), `c${i}`);
    }
    await engine.drain();
    const outbox = await readOutbox(redis, prefix);
    expect(outbox.map((e) => e.event.seq)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(outbox.map((e) => e.event.kind)).toEqual(Array.from({ length: 250 }, (_, i) => (i % 2 ? 'disconnect' : 'connect')));
    expect(outbox.map((e) => e.event.correlationId)).toEqual(Array.from({ length: 250 }, (_, i) => `c${i}`));
    await engine.close();
  });

  it('applies every IP of a journaled event, and recognises each again when the journal replays it', async () => {
    const prefix = `${server.keyPrefix}n`;
    const { engine, metrics } = setup(prefix);
    const journaled = vpn('up', 'alice', ['192.0.2.1', '2001:db8::1'], { journal: { instance: 'j1', id: 7 } });
    engine.submit(journaled, 'n1');
    await engine.drain();
    expect((await readOutbox(redis, prefix)).map((e) => e.event.ip)).toEqual(['192.0.2.1', '2001:db8::1']);
    engine.submit(journaled, 'n1-again');
    await engine.drain();
    expect(await value(metrics, 'decisions', { decision: 'replayed' })).toBe(2);
    expect(await readOutbox(redis, prefix)).toHaveLength(2);
    await engine.close();
  });

  it('does not let an event the script rejects block the ones after it', async () => {
    const prefix = `${server.keyPrefix}p`;
    const { engine, metrics, lines } = setup(prefix);
    // A key of the wrong type: the script fails for this IP only, every time.
    await redis.set(`{${prefix}}:s:192.0.2.99`, 'not a hash');
    engine.submit(vpn('up', 'alice', ['192.0.2.99']), 'bad');
    engine.submit(vpn('up', 'bob', ['192.0.2.98']), 'good');
    await engine.drain();
    expect(await value(metrics, 'decisions', { decision: 'error' })).toBe(1);
    expect(lines.some((l) => l.msg === 'session script rejected event' && l.correlationId === 'bad')).toBe(true);
    expect((await readOutbox(redis, prefix)).map((e) => e.event.correlationId)).toEqual(['good']);
    expect(engine.ready()).toBe(true);
    await engine.close();
  });

  it('rides out a Redis outage: buffers, reports not-ready, drops the oldest when full, then catches up in order', async () => {
    const prefix = `${server.keyPrefix}c`;
    const { engine, metrics, lines } = setup(prefix, { bufferMaxEvents: 5 });
    engine.submit(vpn('up', 'zoe', ['203.0.113.9']), 'before');
    await engine.drain();
    expect(engine.ready()).toBe(true);

    await server.kill();
    engine.submit(vpn('up', 'alice', ['192.0.2.1']), 'e1');
    await vi.waitFor(() => expect(engine.ready()).toBe(false), { timeout: 5000, interval: 10 });
    engine.submit(vpn('up', 'bob', ['192.0.2.2']), 'e2');
    engine.submit(vpn('up', 'carol', ['192.0.2.3']), 'e3');
    engine.submit(vpn('up', 'dave', ['192.0.2.4']), 'e4');
    engine.submit(vpn('down', 'alice', ['192.0.2.1'], { receivedAt: T0 + 60_000 }), 'e5');
    expect(await value(metrics, 'bufferDepth')).toBe(5);
    expect(await value(metrics, 'bufferDropped')).toBe(0);
    engine.submit(vpn('up', 'erin', ['2001:db8::5']), 'e6');
    engine.submit(vpn('up', 'frank', ['192.0.2.2']), 'e7');
    // Full: the two oldest not yet sent (e2, e3) went, each counted and logged.
    expect(await value(metrics, 'bufferDepth')).toBe(5);
    expect(await value(metrics, 'bufferDropped')).toBe(2);
    expect(lines.filter((l) => l.msg === 'session event dropped').map((l) => l.correlationId)).toEqual(['e2', 'e3']);
    expect(engine.ready()).toBe(false);

    await server.restart();
    await engine.drain();
    await vi.waitFor(() => expect(engine.ready()).toBe(true), { timeout: 5000, interval: 10 });
    expect(await value(metrics, 'bufferDepth')).toBe(0);

    const outbox = await readOutbox(redis, prefix);
    expect(outbox.map((e) => [e.event.correlationId, e.event.kind, e.event.user])).toEqual([
      ['before', 'connect', 'zoe'],
      ['e1', 'connect', 'alice'],
      ['e4', 'connect', 'dave'],
      ['e5', 'disconnect', 'alice'],
      ['e6', 'connect', 'erin'],
      ['e7', 'connect', 'frank'],
    ]);
    expect((await listSessions(redis, prefix)).map((s) => s.user).sort()).toEqual(['dave', 'erin', 'frank', 'zoe']);
    await engine.close();
  });

  it('counts every failed call to Redis as an event, logs it at the bounded rate, and logs the recovery once', async () => {
    const prefix = `${server.keyPrefix}f`;
    const { engine, metrics, lines } = setup(prefix);
    const failed = () => value(metrics, 'operationalEvents', { event: 'session_redis_call_failed' });
    await server.kill();
    engine.submit(vpn('up', 'alice', ['192.0.2.1']), 'f1');
    // The engine's clock stands still: 6 lines, then every further failure is counted only.
    await vi.waitFor(async () => expect(await failed()).toBeGreaterThan(6), { timeout: 20_000, interval: 20 });
    const held = lines.filter((l) => l.msg === 'redis unreachable: holding session events in memory');
    expect(held).toHaveLength(6);
    expect(held[0]).toMatchObject({ event: 'session_redis_call_failed', buffered: 1, err: expect.anything() });
    await server.restart();
    await engine.drain();
    expect(lines.filter((l) => l.msg === 'redis reachable again: applying held session events')).toHaveLength(1);
    expect((await readOutbox(redis, prefix)).map((e) => e.event.correlationId)).toEqual(['f1']);
    await engine.close();
  });

  it('counts a submit that fails on a malformed event, and goes on with the next', async () => {
    const prefix = `${server.keyPrefix}m`;
    const { engine, metrics, lines } = setup(prefix);
    engine.submit({ ...vpn('up', 'alice', []), ips: undefined as unknown as string[] }, 'broken');
    engine.submit(vpn('up', 'bob', ['192.0.2.7']), 'fine');
    await engine.drain();
    expect(await value(metrics, 'operationalEvents', { event: 'session_submit_failed' })).toBe(1);
    expect(lines.find((l) => l.msg === 'session submit failed')).toMatchObject({
      event: 'session_submit_failed',
      correlationId: 'broken',
    });
    expect((await readOutbox(redis, prefix)).map((e) => e.event.correlationId)).toEqual(['fine']);
    await engine.close();
  });

  it('counts a failure of its loop and resumes without applying anything twice', async () => {
    const prefix = `${server.keyPrefix}l`;
    const metrics = createMetrics();
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    let broken = true;
    const engine = createSessionEngine({
      redis,
      cfg: defaultConfig().sessions,
      keyPrefix: prefix,
      metrics,
      logger,
      clock: { now: () => T0 },
      // The gauge's sink fails once, after the script applied the batch.
      activeSessions: () => {
        if (!broken) return;
        broken = false;
        throw new Error('gauge sink broke');
      },
    });
    engine.submit(vpn('up', 'alice', ['192.0.2.8']), 'l1');
    await engine.drain();
    expect(await value(metrics, 'operationalEvents', { event: 'session_engine_loop_failed' })).toBe(1);
    expect(lines.find((l) => l.msg === 'session engine loop failed')).toMatchObject({ event: 'session_engine_loop_failed' });
    expect((await readOutbox(redis, prefix)).map((e) => e.event.correlationId)).toEqual(['l1']);
    await engine.close();
  });

  it('counts what it could not apply when closed during an outage, and releases drain()', async () => {
    const prefix = `${server.keyPrefix}d`;
    const { engine, metrics } = setup(prefix);
    await server.kill();
    engine.submit(vpn('up', 'alice', ['192.0.2.1']), 'x1');
    engine.submit(vpn('up', 'bob', ['192.0.2.2']), 'x2');
    const drained = engine.drain();
    await vi.waitFor(() => expect(engine.ready()).toBe(false), { timeout: 5000, interval: 10 });
    await engine.close();
    await drained;
    expect(await value(metrics, 'bufferDropped')).toBe(2);
    expect(await value(metrics, 'bufferDepth')).toBe(0);
    engine.submit(vpn('up', 'carol', ['192.0.2.3']), 'x3');
    expect(await value(metrics, 'bufferDropped')).toBe(3);
    await server.restart();
  });
});
