// Convergence checks shared by the fault tests: a deterministic stream of UP/DOWN lines, sent one
// at a time, and the three invariants every fault must keep — JIMS's table equals what the lines
// imply, every identity event is delivered or accounted for, and no IP ever got an older state
// after a newer one.
import { expect } from 'vitest';
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

export const USERS = ['alice', 'bob', 'carol', 'dave'];

/**
 * A deterministic stream of UP/DOWN lines over `ipCount` IPs: connects, repeats (suppressed or
 * rekeys depending on the clock), takeovers by another user, and disconnects by the owner.
 */
export function stream(base: string, ipCount: number, n: number, seed: number): LineSpec[] {
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

export const toLine = (s: LineSpec) => {
  const ipIdx = Number(s.ip.split('.').pop());
  const userIdx = USERS.indexOf(s.user.split('@')[0]!);
  return vpnLine({ kind: s.kind, user: s.user, ip: s.ip, tunnelId: 100000 + ipIdx * 10 + userIdx });
};

/** JIMS's table after replaying operations (logoff removes only the owner's mapping, as the simulator). */
export function replay(ops: readonly SimOpLogEntry[]): Truth {
  const t: Truth = new Map();
  for (const o of ops) {
    if (o.op === 'logon') t.set(o.ip, { user: o.user, domain: o.domain });
    else if (t.get(o.ip)?.user === o.user) t.delete(o.ip);
  }
  return t;
}

export const only = (t: Truth, ips: Set<string>): Truth => new Map([...t].filter(([ip]) => ips.has(ip)));

export interface Ctx {
  bridge: Bridge;
  clock: ManualClock;
  sent: number;
  /** A standalone Redis URL for the failure report's queue state (absent for Sentinel/Cluster). */
  redis?: { url: string; keyPrefix: string };
}

/** e2eConfig wants a TestRedis for url + prefix; the Sentinel and Cluster tests replace `redis` wholesale. */
export const topologyPlaceholder = (keyPrefix: string) => ({ url: 'redis://127.0.0.1:1', keyPrefix }) as TestRedis;

/**
 * Starts a bridge on a Redis topology the test started (Sentinel, Cluster), with its own JIMS
 * simulator and a manual clock, into `ctx`; `redis` is the config's Redis section past url and
 * prefix. Returns the simulator (the test closes it).
 */
export async function startTopologyBridge(
  ctx: Ctx,
  keyPrefix: string,
  redis: Record<string, unknown>,
  overrides: Record<string, unknown> = {},
): Promise<SimHandle> {
  ctx.clock = manualClock();
  const jims = await startSim();
  const cfg = e2eConfig(topologyPlaceholder(keyPrefix), jims.port, { ...overrides, redis: { url: '', keyPrefix, ...redis } });
  ctx.bridge = await startBridge(cfg, ctx.clock);
  ctx.sent = 0;
  return jims;
}

/** What is still in flight (for a failure message): job counts, unfinished jobs, outbox. */
export async function queueState(ctx: Ctx) {
  if (!ctx.redis) return 'n/a';
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
export async function sendStream(ctx: Ctx, lines: readonly LineSpec[]) {
  for (const l of lines) {
    ctx.clock.advance(1500);
    await ctx.bridge.send([toLine(l)], 'tcp');
    ctx.sent++;
    await waitReceived(ctx.bridge, ctx.sent);
  }
}

/** Waits for the end state and checks the three invariants for the IPs of `lines`. */
export interface ConvergeOptions {
  /**
   * At-least-once duplicates are allowed (a failover may lose a push's completion record, so the
   * push is re-sent), provided the bridge counted each in `ptim_push_reattempts_total`.
   */
  readonly duplicatesCounted?: boolean;
}

/** Distinct (ip, seq) pairs JIMS received. */
const distinctPushes = (ops: readonly SimOpLogEntry[]) => new Set(ops.map((o) => `${o.ip}#${o.seq}`)).size;

export async function expectConverged(
  ctx: Ctx,
  lines: readonly LineSpec[],
  ops: () => readonly SimOpLogEntry[],
  timeoutMs = 10_000,
  opts: ConvergeOptions = {},
) {
  const truth = truthOf(lines);
  const ips = new Set(lines.map((l) => l.ip));
  const table = () => only(replay(ops()), ips);
  const settled = async () => {
    const acc = await accounting(ctx.bridge.metrics);
    if (!opts.duplicatesCounted) return acc.settled;
    // Re-pushes after a failover make `delivered` overcount: count each (ip, seq) JIMS saw once.
    return distinctPushes(ops()) + acc.superseded + acc.permanent >= acc.events;
  };
  await ctx.bridge.applied();
  try {
    await waitFor(async () => (await settled()) && sameTable(table(), truth), {
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
  if (opts.duplicatesCounted) {
    const duplicates = ops().length - distinctPushes(ops());
    // An event pushed on a master that then failed may be re-run and found superseded: both counts.
    expect(distinctPushes(ops()) + acc.superseded).toBeGreaterThanOrEqual(acc.events);
    // Every duplicate JIMS saw is one the bridge knew it might cause, and counted.
    expect(await ctx.bridge.metric('ptim_push_reattempts_total')).toBeGreaterThanOrEqual(duplicates);
  } else expect(acc.delivered + acc.superseded).toBe(acc.events);
  expect(await ctx.bridge.metric('ptim_session_buffer_dropped_total')).toBe(0);
  expect(orderViolations(ops().filter((o) => ips.has(o.ip)))).toEqual([]);
}

/**
 * The Cluster failover fault: the first `at[0]` lines, then the master serving `slotKey` is
 * SIGKILLed (its replica promoted), lines up to `at[1]` are sent, the killed node comes back as a
 * replica, the rest is sent; then the invariants (at-least-once duplicates counted) and /readyz 200.
 */
export async function killMasterMidStream(
  ctx: Ctx,
  lines: readonly LineSpec[],
  at: readonly [number, number],
  cluster: { killMasterOf(slotKey: string): Promise<number>; restart(port: number): Promise<void> },
  slotKey: string,
  ops: () => readonly SimOpLogEntry[],
) {
  await sendStream(ctx, lines.slice(0, at[0]));
  const killed = await cluster.killMasterOf(slotKey);
  await sendStream(ctx, lines.slice(at[0], at[1]));
  await cluster.restart(killed);
  await sendStream(ctx, lines.slice(at[1]));
  await expectConverged(ctx, lines, ops, 30_000, { duplicatesCounted: true });
  await waitFor(async () => (await fetch(`${ctx.bridge.opsUrl()}/readyz`)).status === 200, {
    timeoutMs: 15_000,
    what: '/readyz 200 after the failover',
  });
}
