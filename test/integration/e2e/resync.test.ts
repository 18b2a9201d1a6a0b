// `resync` end to end: a bridge, the JIMS simulator and a real Redis. JIMS loses its table
// (simulator reset); resync re-pushes every active session through the outbox, relay and push
// workers and the table is whole again. A DOWN that arrives while resync runs is never overtaken
// by the resync's re-push of that IP: per-IP order holds and the user ends logged off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runResync } from '../../../src/cli/resync.js';
import type { Config } from '../../../src/config/schema.js';
import { systemClock } from '../../../src/types.js';
import type { TestRedis } from '../../helpers/redis.js';
import { startRedis } from '../../helpers/redis.js';
import {
  accounting,
  e2eConfig,
  orderViolations,
  show,
  startBridge,
  startSim,
  tableOf,
  truthOf,
  vpnLine,
  waitFor,
  waitReceived,
  type Bridge,
  type LineSpec,
  type SimHandle,
} from './harness.js';

let redis: TestRedis;
let jims: SimHandle;
let bridge: Bridge;
let config: Config;
let sent = 0;
/** Identity events resync wrote (counted in the CLI's own metrics, not the bridge's). */
let resynced = 0;

/** Every identity event the bridge and the resync runs that ended wrote, ended delivered, superseded or failed. */
async function settled(): Promise<boolean> {
  const a = await accounting(bridge.metrics);
  return a.delivered + a.superseded + a.permanent === a.events + resynced;
}

/** Runs resync and notes how many events it wrote. */
async function resync(rate: number, sleep?: () => Promise<void>) {
  const out = sink();
  const code = await runResync(config, out, sink(), { rate }, { clock: systemClock, ...(sleep ? { sleep } : {}) });
  const [, pushed, skipped] = /(\d+) session\(s\) re-pushed, (\d+) ended meanwhile/.exec(out.text()) ?? [];
  resynced += Number(pushed);
  return { code, text: out.text(), pushed: Number(pushed), skipped: Number(skipped) };
}

beforeAll(async () => {
  redis = await startRedis();
  jims = await startSim();
  config = e2eConfig(redis, jims.port);
  bridge = await startBridge(config);
});

afterAll(async () => {
  await bridge?.stop();
  await jims?.sim.close();
  await redis?.stop();
});

const sink = () => {
  let text = '';
  return { write: (s: string) => ((text += s), true), text: () => text } as unknown as NodeJS.WritableStream & { text(): string };
};

/** Sends lines and waits until the bridge applied them to Redis. */
async function apply(specs: readonly LineSpec[]) {
  await bridge.send(specs.map((s) => vpnLine({ ...s, user: `${s.user}@example.com` })));
  sent += specs.length;
  await waitReceived(bridge, sent);
  await bridge.applied();
}

const ups: LineSpec[] = Array.from({ length: 12 }, (_, i) => ({ kind: 'up', user: `user${i}`, ip: `192.0.2.${i + 1}` }));

describe('resync', () => {
  it('restores the table JIMS lost', async () => {
    await apply(ups);
    await waitFor(settled, { what: 'every connect delivered', timeoutMs: 20_000 });
    expect(show(tableOf(jims.sim))).toEqual(show(truthOf(ups)));
    jims.sim.reset();
    expect(jims.sim.identities()).toEqual({});

    const r = await resync(1000);
    expect(r.code).toBe(0);
    expect(r.text).toMatch(/^resync: 12 session\(s\) re-pushed, 0 ended meanwhile, 0 error\(s\)/);
    await waitFor(settled, { what: 'the resync pushes delivered', timeoutMs: 20_000 });
    expect(show(tableOf(jims.sim))).toEqual(show(truthOf(ups)));
    expect(jims.sim.operations().every((o) => o.op === 'logon')).toBe(true);
  });

  it('refuses a rate that is not a positive number', async () => {
    for (const rate of [0, -5, Number.NaN])
      await expect(runResync(config, sink(), sink(), { rate }, { clock: systemClock })).rejects.toMatchObject({
        code: 'PTIM_ERR_USAGE',
      });
  });

  it('never lets its re-push of an IP overtake a DOWN that arrived meanwhile', async () => {
    jims.sim.reset();
    const downs: LineSpec[] = ups.map((u) => ({ ...u, kind: 'down' }));
    let interleaved = false;
    // The first pause between sessions: every user logs off while resync is under way (1 a batch at 10/s).
    const sleep = async () => {
      if (interleaved) return;
      interleaved = true;
      await apply(downs);
    };
    const r = await resync(10, sleep);
    expect(r.code).toBe(0);
    expect(interleaved).toBe(true);
    await waitFor(settled, { what: 'everything settled', timeoutMs: 20_000 });
    // Some sessions were re-pushed before their DOWN; the rest had ended when resync reached them.
    expect(r.pushed).toBeGreaterThan(0);
    expect(r.pushed + r.skipped).toBe(12);
    expect(jims.sim.identities()).toEqual({});
    expect(orderViolations(jims.sim.operations())).toEqual([]);
    for (const ip of new Set(jims.sim.operations().map((o) => o.ip))) {
      expect(
        jims.sim
          .operations()
          .filter((o) => o.ip === ip)
          .at(-1)?.op,
      ).toBe('logoff');
    }
  });
});
