// The session journal end to end, with the bridge as its own process (`serve -c <file>`) so it can
// be SIGKILLed or SIGTERMed for real: VPN lines received while Redis is down survive a crash, a
// stop and a torn journal tail, and JIMS ends with exactly what the lines imply, never an older
// state after a newer one. Every test has its own Redis, JIMS simulator and journal directory.
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { SHIPPED_PATTERNS_DIR } from '../../../src/cli/demo.js';
import { sendLines } from '../../../src/cli/send.js';
import { within } from '../../../src/ops/grace.js';
import { ipKey } from '../../../src/redis/keys.js';
import { shardsOf } from '../../../src/redis/shards.js';
import { encodeRecord } from '../../../src/sessions/journal.js';
import { freePort } from '../../helpers/redis.js';
import {
  CLIENT,
  e2eConfig,
  orderViolations,
  sameTable,
  show,
  startBridge,
  startRedis,
  startSim,
  tableOf,
  templateFile,
  truthOf,
  vpnLine,
  type LineSpec,
  type SimHandle,
  type TestRedis,
} from './harness.js';
import { startBridgeProcess, waitLong, type BridgeProcess } from './process.js';

interface Stack {
  redis: TestRedis;
  jims: SimHandle;
  journalDir: string;
  configFile: string;
  tcpPort: number;
  opsPort: number;
  bridge?: BridgeProcess;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function stack(over: { shutdownGraceSecs?: number } = {}, redisOver: { shards?: number } = {}): Promise<Stack> {
  const redis = await startRedis({ appendonly: true });
  const jims = await startSim();
  const dir = mkdtempSync(join(tmpdir(), 'ptim-journal-e2e-'));
  const s: Stack = {
    redis,
    jims,
    journalDir: join(dir, 'journal'),
    configFile: join(dir, 'config.yaml'),
    tcpPort: await freePort(),
    opsPort: await freePort(),
  };
  cleanups.push(async () => {
    await s.bridge?.dispose();
    await jims.sim.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(
    s.configFile,
    JSON.stringify({
      ingest: { udp: { enabled: false }, tcp: { bind: ['127.0.0.1'], port: s.tcpPort }, allowedSources: ['127.0.0.0/8'] },
      patterns: { dirs: [SHIPPED_PATTERNS_DIR], watch: false },
      identity: { defaultDomain: 'example.com' },
      sessions: { journalDir: s.journalDir },
      redis: { url: redis.url, keyPrefix: redis.keyPrefix, ...redisOver },
      queue: { retryBaseDelaySecs: 0.01, retryMaxDelaySecs: 0.05, ipLockTtlSecs: 10, concurrency: 8 },
      jims: {
        primary: { host: '127.0.0.1', port: jims.port, scheme: 'http', ...CLIENT },
        requestTimeoutSecs: 5,
        push: { template: templateFile() },
      },
      ops: { host: '127.0.0.1', port: s.opsPort },
      log: { level: process.env.JDBG ? 'debug' : 'warn' },
      ...over,
    }),
  );
  return s;
}

async function start(s: Stack): Promise<BridgeProcess> {
  s.bridge = await startBridgeProcess(s.configFile, s.opsPort);
  return s.bridge;
}

/** Up and down lines over 8 IPs of `net`; each DOWN names the IP's owner at that point. */
function lines(net: string, n: number, seed: number): LineSpec[] {
  const users = ['alice', 'bob', 'carol'];
  const owner = new Map<string, string>();
  const out: LineSpec[] = [];
  for (let i = 0; i < n; i++) {
    const ip = `${net}.${10 + ((i * 5 + seed) % 8)}`;
    const cur = owner.get(ip);
    const spec: LineSpec =
      cur && (i + seed) % 4 === 3 ? { kind: 'down', user: cur, ip } : { kind: 'up', user: users[(i * 7 + seed) % 3]!, ip };
    if (spec.kind === 'up') owner.set(ip, spec.user);
    else owner.delete(ip);
    out.push({ ...spec, user: `${spec.user}@example.com` });
  }
  return out;
}

// One tunnel id per IP: a DOWN closes the session its UPs opened.
const toLine = (l: LineSpec) => vpnLine({ kind: l.kind, user: l.user, ip: l.ip, tunnelId: 300 + Number(l.ip.split('.').pop()) });
const send = (s: Stack, ls: readonly LineSpec[]) =>
  sendLines(ls.map(toLine), { host: '127.0.0.1', port: s.tcpPort, transport: 'tcp' });

async function expectJimsEqualsTruth(s: Stack, all: readonly LineSpec[]): Promise<void> {
  const truth = truthOf(all);
  await waitLong(() => sameTable(tableOf(s.jims.sim), truth), {
    timeoutMs: 150_000,
    what: 'JIMS table equal to the truth',
  }).catch((e: Error) =>
    expect(show(tableOf(s.jims.sim)), `${e.message}\n${s.bridge?.log().slice(-4000) ?? ''}`).toEqual(show(truth)),
  );
  expect(orderViolations(s.jims.sim.operations())).toEqual([]);
}

/** Lines applied with Redis up, then Redis down and more lines: waits until those are journaled. */
async function outage(s: Stack, b: BridgeProcess, before: readonly LineSpec[], during: readonly LineSpec[]): Promise<void> {
  await send(s, before);
  await waitLong(async () => (await b.metric('ptim_session_decisions_total')) >= before.length, {
    what: 'lines applied before the outage',
  });
  await s.redis.kill();
  await send(s, during);
  await waitLong(async () => (await b.metric('ptim_session_journal_events')) >= during.length, {
    what: `${during.length} events journaled`,
  });
}

async function crash(b: BridgeProcess): Promise<void> {
  b.child.kill('SIGKILL');
  await b.exited();
}

/** 20 lines applied, 40 journaled during an outage, a crash, Redis back: the restart replays the 40 and JIMS equals the truth. */
async function crashDuringOutageThenReplay(s: Stack, all: readonly LineSpec[]): Promise<BridgeProcess> {
  const b = await start(s);
  await outage(s, b, all.slice(0, 20), all.slice(20));
  await crash(b);
  await s.redis.restart();
  const b2 = await start(s);
  await expectJimsEqualsTruth(s, all);
  expect(await b2.metric('ptim_session_journal_replayed_total')).toBe(40);
  return b2;
}

it('Redis down, lines flow, the bridge is SIGKILLed; restarted with Redis back, it replays: JIMS equals the truth', async () => {
  const s = await stack();
  const all = lines('198.51.100', 60, 1);
  const b2 = await crashDuringOutageThenReplay(s, all);
  await waitLong(async () => (await b2.metric('ptim_session_journal_events')) === 0, { what: 'the journal emptied' });
}, 240_000);

it("with redis.shards 3 (on one Redis), the replay after a crash goes to each IP's shard: JIMS equals the truth", async () => {
  const s = await stack({}, { shards: 3 });
  const all = lines('203.0.113', 60, 4);
  await crashDuringOutageThenReplay(s, all);
  const shards = shardsOf(s.redis.keyPrefix, 3);
  const up = [...truthOf(all).keys()].map((ip) => ipKey(ip));
  expect(new Set(up.map((k) => shards.of(k))).size).toBe(3);
  const r = new Redis(s.redis.url);
  try {
    for (const k of up) expect(await r.exists(shards.keyspaceOf(k).session(k)), k).toBe(1);
    expect(await r.keys(`{${s.redis.keyPrefix}}:s:*`)).toEqual([]);
  } finally {
    r.disconnect();
  }
}, 240_000);

it('Redis down, SIGTERM: the bridge exits within shutdownGraceSecs and says how many events stay journaled; a restart loses nothing', async () => {
  // Long enough that a starved process still finishes stop() in it; short enough to prove stop() does not wait for Redis.
  const graceSecs = 10;
  const s = await stack({ shutdownGraceSecs: graceSecs });
  const all = lines('203.0.113', 50, 2);
  const b = await start(s);
  await outage(s, b, all.slice(0, 15), all.slice(15));
  const t0 = performance.now();
  b.child.kill('SIGTERM');
  const { code } = await b.exited();
  const elapsedMs = performance.now() - t0;
  // Bounded either way: stop() finished in its budget (exit 0, and it says what stays journaled),
  // or, on a host that starved the process for seconds, the backstop ended it at the grace period
  // (exit 1). The journal is on disk in both cases: the restart below must lose nothing.
  expect(elapsedMs).toBeLessThan(graceSecs * 1000 + 5000); // the process exit itself, on a busy host
  if (code === 0) {
    const kept = /"events":(\d+)[^\n]*stay in the journal/.exec(b.log());
    expect(Number(kept?.[1]), b.log().slice(-4000)).toBe(35);
  } else {
    expect(b.log(), 'only the grace-period backstop may end it early').toMatch(/shutdown grace period over: exiting now/);
    expect(code).toBe(1);
  }

  await s.redis.restart();
  await start(s);
  await expectJimsEqualsTruth(s, all);
}, 240_000);

it('a torn journal tail (crash mid-write) is cut, counted and logged; the start goes on and nothing written whole is lost', async () => {
  const s = await stack();
  const all = lines('192.0.2', 40, 3);
  const b = await start(s);
  await outage(s, b, all.slice(0, 10), all.slice(10));
  await crash(b);
  // The first half of one more record: what a power loss in the middle of a write leaves.
  const segs = readdirSync(s.journalDir)
    .filter((f) => f.endsWith('.jnl'))
    .sort()
    .map((f) => join(s.journalDir, f));
  const newest = segs.filter((f) => statSync(f).size > 64).at(-1)!;
  const torn = encodeRecord({ type: 'event', id: 2 ** 40, payload: Buffer.from('{"e":{"kind":"up"}}') });
  appendFileSync(newest, torn.subarray(0, 13));

  await s.redis.restart();
  const b2 = await start(s);
  expect(await b2.metric('ptim_session_journal_corrupt_total')).toBe(1);
  expect(b2.log()).toMatch(/corrupt or torn tail skipped/);
  await expectJimsEqualsTruth(s, all);
}, 240_000);

it('fault: Redis killed mid-stream and the bridge crashed during the outage, lines arriving again during the replay', async () => {
  const s = await stack();
  const all = lines('100.64.0', 90, 4);
  const [first, second, third] = [all.slice(0, 30), all.slice(30, 60), all.slice(60)];
  const b = await start(s);
  await send(s, first);
  // No wait for Redis to apply them: some are in flight in the pipeline when Redis dies.
  await s.redis.kill();
  await send(s, second);
  await waitLong(
    async () =>
      (await b.metric('ptim_syslog_received_total')) >= 60 &&
      (await b.metric('ptim_session_journal_events')) >= second.length &&
      (await b.metric('ptim_session_decisions_total')) + (await b.metric('ptim_session_journal_events')) >= 60,
    { what: 'every line applied or journaled' },
  );
  await crash(b);

  await s.redis.restart();
  await start(s);
  await send(s, third); // while the journal is replayed: the new lines queue behind it
  await expectJimsEqualsTruth(s, all);
}, 240_000);

it('a full journal drops the oldest events, counts them, and readiness says so; every other event reaches JIMS', async () => {
  const redis = await startRedis({ appendonly: true }); // the queue's state survives the Redis restart
  const jims = await startSim();
  const journalDir = mkdtempSync(join(tmpdir(), 'ptim-journal-full-'));
  cleanups.push(async () => {
    await jims.sim.close();
    await redis.stop();
    rmSync(journalDir, { recursive: true, force: true });
  });
  const bridge = await startBridge(
    e2eConfig(redis, jims.port, { sessions: { journalDir, journalMaxBytes: 64 * 1024, bufferMaxEvents: 50 } }),
  );
  cleanups.push(() => bridge.stop());
  await redis.kill();
  // 1,200 users on distinct IPs, ~400 bytes journaled each: far more than 64 KiB.
  const ips = Array.from({ length: 1200 }, (_, i) => `10.77.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  for (let i = 0; i < ips.length; i += 200) {
    await bridge.send(
      ips.slice(i, i + 200).map((ip, k) => vpnLine({ kind: 'up', user: `u${i + k}@example.com`, ip })),
      'tcp',
    );
  }
  await waitLong(async () => (await bridge.metric('ptim_syslog_received_total')) >= ips.length, { what: 'all lines received' });
  await waitLong(async () => (await bridge.metric('ptim_session_journal_dropped_total')) > 0, { what: 'the oldest dropped' });
  expect(await bridge.metric('ptim_session_journal_bytes')).toBeLessThanOrEqual(64 * 1024);
  const ready = (await (await fetch(`${bridge.opsUrl()}/readyz`)).json()) as {
    checks: { name: string; ok: boolean; detail?: string }[];
  };
  expect(ready.checks.find((c) => c.name === 'session-journal')).toMatchObject({
    ok: false,
    detail: expect.stringMatching(/journal full: \d+ oldest/),
  });

  await redis.restart();
  await waitLong(async () => (await bridge.metric('ptim_session_journal_events')) === 0, {
    timeoutMs: 60_000,
    what: 'the journal applied',
  }).catch(async (e: Error) => {
    const stats = ['ptim_session_journal_events', 'ptim_session_decisions_total', 'ptim_session_buffer_events'];
    throw new Error(`${e.message}: ${(await Promise.all(stats.map(async (m) => `${m} ${await bridge.metric(m)}`))).join(', ')}`);
  });
  await within(bridge.applied(), 60_000).then((done) => expect(done, 'engine drained').toBe(true));
  const dropped = await bridge.metric('ptim_session_journal_dropped_total');
  // Every event was either applied (and pushed) or counted as dropped; the newest survived.
  await waitLong(() => Object.keys(jims.sim.identities()).length === ips.length - dropped, {
    timeoutMs: 60_000,
    what: `${ips.length - dropped} identities in JIMS`,
  }).catch(async (e: Error) => {
    const got = Object.keys(jims.sim.identities()).length;
    const decisions = await bridge.metric('ptim_session_decisions_total');
    const memDropped = await bridge.metric('ptim_session_buffer_dropped_total');
    throw new Error(
      `${e.message}: JIMS has ${got}; decisions ${decisions}; journal dropped ${dropped}; memory dropped ${memDropped}`,
    );
  });
  expect(jims.sim.identities()[ips.at(-1)!]?.user).toBe('u1199');
}, 240_000);
