// `sessions` at scale: the ZSCAN listing, its filters, paging by position token and the CLI
// output (table, JSON, count), on sessions written by the real session engine.
import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/app.js';
import { showSessions } from '../../../src/cli/admin.js';
import { configSchema } from '../../../src/config/schema.js';
import { PtimError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { createSessionEngine } from '../../../src/sessions/engine.js';
import { countSessions, listSessions, scanSessions } from '../../../src/sessions/query.js';
import type { VpnEvent } from '../../../src/types.js';
import { useRedis } from './redis-state.js';
import { textSink } from '../../helpers/sink.js';

const db = useRedis();
const T0 = 1_700_000_000_000;
/** More than Redis keeps as a listpack (128), so ZSCAN really pages through a hash table. */
const N = 600;

const user = (i: number) => (i % 3 === 0 ? `Alice${i}` : `bob${i}`);
const ipOf = (i: number) => (i % 10 === 0 ? `2001:db8::${i.toString(16)}` : `10.${(i >> 8) & 255}.${i & 255}.1`);

let prefix: string;
beforeAll(async () => {
  prefix = `${db.server.keyPrefix}q`;
  const engine = createSessionEngine({
    redis: db.redis,
    cfg: configSchema.parse({}).sessions,
    keyPrefix: prefix,
    metrics: createMetrics(),
    logger: silentLogger,
    clock: { now: () => T0 },
  });
  for (let i = 0; i < N; i++) {
    const e: VpnEvent = {
      kind: 'up',
      user: user(i),
      domain: 'example.com',
      ips: [ipOf(i)],
      firewall: i % 2 ? 'srx-hq' : 'srx-branch-1',
      vpn: i % 4 ? 'ra-vpn' : 'lab-vpn',
      patternId: 't',
      receivedAt: T0 + i,
    };
    engine.submit(e, `c${i}`);
  }
  await engine.drain();
  await engine.close();
});

const config = () => configSchema.parse({ redis: { url: db.server.url, keyPrefix: prefix } });

describe('scanSessions', () => {
  it('lists every session once, a batch at a time', async () => {
    const all = await listSessions(db.redis, prefix);
    expect(all).toHaveLength(N);
    expect(new Set(all.map((s) => s.ip)).size).toBe(N);
    expect(await countSessions(db.redis, prefix)).toBe(N);
  });

  it('filters by user (wildcards, any case), CIDR, firewall and VPN, combined', async () => {
    const f = async (filter: Parameters<typeof listSessions>[2]) => (await listSessions(db.redis, prefix, filter)).length;
    expect(await f({ user: 'alice*' })).toBe(200);
    expect(await f({ user: 'BOB1' })).toBe(1);
    // i in 256..511 except the 26 multiples of 10 (those are IPv6).
    expect(await f({ ip: '10.1.0.0/16' })).toBe(230);
    expect(await f({ ip: '2001:db8::/32' })).toBe(60);
    expect(await f({ firewall: 'srx-branch-*', vpn: 'lab-vpn' })).toBe(150);
    expect(await f({ firewall: 'srx-hq', vpn: 'lab-vpn' })).toBe(0);
  });

  it('pages by position token without gaps or repeats, whatever the page size', async () => {
    for (const page of [1, 7, 128, 599]) {
      const seen: string[] = [];
      let after: string | undefined;
      do {
        let n = 0;
        let next: string | undefined;
        for await (const s of scanSessions(db.redis, prefix, { after, batchSize: 50 })) {
          seen.push(s.session.ip);
          next = s.next;
          if (++n === page) break;
        }
        after = next;
      } while (after !== undefined);
      expect(seen).toHaveLength(N);
      expect(new Set(seen).size).toBe(N);
    }
  });

  it('refuses a token it did not give, before touching Redis', async () => {
    const it = scanSessions(db.redis, prefix, { after: 'x;y' });
    await expect(it.next()).rejects.toBeInstanceOf(PtimError);
  });
});

describe('ptim-bridge sessions', () => {
  it('prints a table with a count, and the token for the next page with --limit', async () => {
    const out = textSink();
    expect(await showSessions(config(), out.stream, { limit: 5, vpn: 'lab-vpn' })).toBe(0);
    const lines = out.text().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^IP +USER +DOMAIN +FIREWALL +VPN +SINCE/);
    expect(lines).toHaveLength(2 + 5 + 1);
    const m = /^5 session\(s\); next page: --cursor (\S+)$/.exec(lines.at(-1)!);
    expect(m).not.toBeNull();
    const rest = textSink();
    await showSessions(config(), rest.stream, { vpn: 'lab-vpn', cursor: m![1] });
    expect(rest.text()).toMatch(/\n145 session\(s\)\n$/);
  });

  it('streams a JSON array and counts with filters', async () => {
    const out = textSink();
    await showSessions(config(), out.stream, { json: true, user: 'alice3' });
    expect(JSON.parse(out.text())).toMatchObject([{ user: 'Alice3', ip: '10.0.3.1', firewall: 'srx-hq', vpn: 'ra-vpn', seq: 1 }]);
    const none = textSink();
    await showSessions(config(), none.stream, { json: true, user: 'nobody' });
    expect(JSON.parse(none.text())).toEqual([]);
    const count = textSink();
    await showSessions(config(), count.stream, { count: true, ip: '2001:db8::/32' });
    expect(count.text()).toBe('60\n');
    const total = textSink();
    await showSessions(config(), total.stream, { count: true, json: true });
    expect(JSON.parse(total.text())).toEqual({ count: N });
  });

  it('waits for a slow reader instead of buffering the output', async () => {
    const out = new PassThrough({ highWaterMark: 256 });
    let maxBuffered = 0;
    const done = showSessions(config(), out, { json: true });
    let text = '';
    for await (const chunk of out) {
      maxBuffered = Math.max(maxBuffered, out.writableLength);
      text += String(chunk);
      if (text.endsWith(']\n')) break;
    }
    await done;
    expect(JSON.parse(text)).toHaveLength(N);
    expect(maxBuffered).toBeLessThan(4096);
  });

  it('rejects a bad --ip or --limit as a usage error', async () => {
    await expect(showSessions(config(), textSink().stream, { ip: '10.0.0.0/99' })).rejects.toMatchObject({
      code: 'PTIM_ERR_USAGE',
    });
    await expect(showSessions(config(), textSink().stream, { limit: 0 })).rejects.toMatchObject({ code: 'PTIM_ERR_USAGE' });
  });
});

describe('ptim_sessions_active', () => {
  it('is right from start-up, before any decision', async () => {
    const metrics = createMetrics();
    const cfg = configSchema.parse({
      roles: ['sweeper'],
      ops: { enabled: false },
      redis: { url: db.server.url, keyPrefix: prefix },
    });
    const app = await createApp(cfg, { logger: silentLogger, metrics, clock: { now: () => T0 } });
    await app.start();
    try {
      expect((await metrics.sessionsActive.get()).values[0]?.value).toBe(N);
    } finally {
      await app.stop();
    }
  });
});
