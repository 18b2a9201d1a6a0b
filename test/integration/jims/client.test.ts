import { afterEach, describe, expect, it, vi } from 'vitest';
import { createJimsClient, type JimsClient } from '../../../src/jims/client.js';
import { createJimsSimulator, type JimsSimulator, type JimsSimOptions } from '../../../src/jims-sim/simulator.js';
import { createMetrics, type Metrics } from '../../../src/ops/metrics.js';
import { silentLogger } from '../../../src/log.js';
import type { PtimError } from '../../../src/errors.js';
import { SECRET, captureLogs, event, fakeClock, jimsConfig } from './helpers.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  while (open.length) await open.pop()?.close();
});

async function sim(opts: JimsSimOptions = {}): Promise<{ sim: JimsSimulator; port: number }> {
  const s = createJimsSimulator({ clients: [{ clientId: 'srx1', clientSecret: SECRET }], ...opts });
  const { port } = await s.listen(0);
  open.push(s);
  return { sim: s, port };
}

function client(cfg: Parameters<typeof createJimsClient>[0], deps: Partial<Parameters<typeof createJimsClient>[1]> = {}) {
  const metrics: Metrics = deps.metrics ?? createMetrics();
  const c: JimsClient = createJimsClient(cfg, { metrics, logger: silentLogger, clock: fakeClock(), ...deps });
  open.push(c);
  return { c, metrics };
}

async function metricValue(m: Metrics, name: keyof Metrics, labels: Record<string, string>): Promise<number> {
  const metric = m[name] as unknown as { get(): Promise<{ values: Array<{ value: number; labels: Record<string, string> }> }> };
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

describe('JIMS client ↔ simulator over HTTP', () => {
  it.each(['json', 'form', 'basic'] as const)('token style %s: logon then logoff reach the identity table', async (style) => {
    const { sim: s, port } = await sim();
    const { c, metrics } = client(jimsConfig(port, { tokenRequestStyle: style }));
    expect(await c.push(event({ ip: '192.0.2.11' }))).toEqual({ result: 'delivered', status: 200, server: 'primary' });
    expect(s.identities()['192.0.2.11']).toMatchObject({ user: 'alice', domain: 'example.com' });
    expect(await c.push(event({ ip: '192.0.2.11', kind: 'disconnect', reason: 'down' }))).toMatchObject({ result: 'delivered' });
    expect(s.identities()['192.0.2.11']).toBeUndefined();
    expect(s.counters()).toMatchObject({ tokens: 1, pushes: 2, logons: 1, logoffs: 1 });
    expect(await metricValue(metrics, 'tokenRequests', { result: 'ok' })).toBe(1);
    expect(await metricValue(metrics, 'activeServer', { server: 'primary' })).toBe(1);
  });

  it('applies events for one IP in push order; a rekey is a refresh', async () => {
    const { sim: s, port } = await sim({ push: { template: 'userfw-json' } });
    const { c } = client(jimsConfig(port, { push: { template: 'userfw-json' } }));
    const ip = '2001:db8::5';
    for (const kind of ['connect', 'rekey', 'disconnect'] as const)
      expect((await c.push(event({ ip, kind }))).result).toBe('delivered');
    expect(s.operations().map((o) => [o.ip, o.op, o.result])).toEqual([
      [ip, 'logon', 'added'],
      [ip, 'logon', 'refreshed'],
      [ip, 'logoff', 'removed'],
    ]);
  });

  it('a body JIMS cannot read (400) is a permanent failure, not a retry', async () => {
    const { sim: s, port } = await sim(); // expects userfw-xml
    const { c } = client(jimsConfig(port, { push: { template: 'userfw-json' } }));
    expect(await c.push(event())).toEqual({ result: 'permanent', reason: 'http:400', status: 400, server: 'primary' });
    expect(s.counters().malformed).toBe(1);
  });

  it('wrong client secret: retried (the fix is in configuration), counted as rejected, logged without the secret', async () => {
    const { port } = await sim();
    const logs = captureLogs();
    const { c, metrics } = client(jimsConfig(port, {}, { clientSecret: 'wrong-Secret-42' }), { logger: logs.logger });
    expect(await c.push(event())).toMatchObject({ result: 'retry', reason: 'token-rejected:http:401' });
    expect(await metricValue(metrics, 'tokenRequests', { result: 'rejected' })).toBe(1);
    expect(logs.text()).toContain('rejected the client credentials');
    expect(logs.text()).not.toContain('wrong-Secret-42');
  });

  it('refreshes the token before it expires (short lifetime, fake clock)', async () => {
    const clock = fakeClock();
    const { sim: s, port } = await sim({ clock, tokenLifetimeSecs: 120 });
    const { c } = client(jimsConfig(port), { clock });
    await c.push(event());
    clock.advance(50_000);
    await c.push(event());
    expect(s.counters().tokens).toBe(1);
    clock.advance(20_000); // 70 s: inside the 60 s refresh margin
    expect(await c.push(event())).toMatchObject({ result: 'delivered' });
    expect(s.counters()).toMatchObject({ tokens: 2, unauthorized: 0, pushes: 3 });
  });

  it('a token the server no longer honours: 401, one refresh, delivered', async () => {
    const { sim: s, port } = await sim();
    const { c } = client(jimsConfig(port));
    await c.push(event());
    s.revokeTokens();
    expect(await c.push(event())).toMatchObject({ result: 'delivered' });
    expect(s.counters()).toMatchObject({ tokens: 2, unauthorized: 1, pushes: 2 });
  });

  it('401 even with a fresh token ⇒ permanent after exactly one retry', async () => {
    const { sim: s, port } = await sim({ faults: { pushStatus: 401 } });
    const { c } = client(jimsConfig(port));
    expect(await c.push(event())).toMatchObject({ result: 'permanent', reason: 'auth-rejected:http:401', status: 401 });
    expect(s.counters()).toMatchObject({ tokens: 2, statusInjected: 2 });
  });

  it('503 ⇒ retry; 429 Retry-After ⇒ retry with delay; 400 ⇒ permanent', async () => {
    const { sim: s, port } = await sim();
    const { c } = client(jimsConfig(port));
    s.setFaults({ errorRate: 1 });
    expect(await c.push(event())).toEqual({ result: 'retry', reason: 'http:503', server: 'primary' });
    s.setFaults({ errorRate: 0, pushStatus: 429, retryAfter: '7' });
    expect(await c.push(event())).toEqual({ result: 'retry', reason: 'http:429', retryAfterMs: 7000, server: 'primary' });
    s.setFaults({ pushStatus: 400, retryAfter: null });
    expect(await c.push(event())).toEqual({ result: 'permanent', reason: 'http:400', status: 400, server: 'primary' });
    expect(s.counters()).toMatchObject({ errorsInjected: 1, statusInjected: 2 });
  });

  it('offline refuse ⇒ retry (connection reset)', async () => {
    const { sim: s, port } = await sim();
    const { c } = client(jimsConfig(port));
    await c.push(event());
    s.setFaults({ offline: 'refuse' });
    const o = await c.push(event());
    expect(o).toMatchObject({ result: 'retry', server: 'primary' });
    expect(o.result === 'retry' && o.reason).toMatch(/^network:ECONN(RESET|REFUSED)$/);
    expect(s.counters().dropped).toBe(1);
  });

  it('offline hang ⇒ retry, bounded by the request timeout', async () => {
    const { sim: s, port } = await sim();
    const { c } = client(jimsConfig(port, { requestTimeoutSecs: 0.2 }));
    await c.push(event());
    s.setFaults({ offline: 'hang' });
    expect(await c.push(event())).toMatchObject({ result: 'retry', reason: 'network:ETIMEDOUT' });
    expect(s.counters().hung).toBe(1);
  });

  it('a server that is not there at all ⇒ retry, and probe() says unreachable', async () => {
    const { sim: s, port } = await sim();
    await s.close();
    const { c } = client(jimsConfig(port));
    expect(await c.push(event())).toMatchObject({ result: 'retry', reason: 'token:network:ECONNREFUSED' });
    expect(await c.probe()).toEqual({ reachable: false, server: 'primary', detail: 'token:network:ECONNREFUSED' });
  });

  it('probe() is reachable when a token can be had', async () => {
    const { port } = await sim();
    const { c } = client(jimsConfig(port));
    expect(await c.probe()).toEqual({ reachable: true, server: 'primary' });
  });

  it('primary down ⇒ secondary after N failures, back to the primary after a successful probe', async () => {
    const clock = fakeClock();
    const { sim: primary, port: p1 } = await sim({ clock });
    const { sim: secondary, port: p2 } = await sim({ clock });
    const cfg = jimsConfig(p1, {
      secondary: { host: '127.0.0.1', port: p2, scheme: 'http', clientId: 'srx1', clientSecret: SECRET },
      failoverAfterFailures: 2,
      primaryProbeIntervalSecs: 30,
    });
    const logs = captureLogs();
    const { c, metrics } = client(cfg, { clock, logger: logs.logger });
    expect(await c.push(event())).toMatchObject({ result: 'delivered', server: 'primary' });
    primary.setFaults({ offline: 'refuse' });
    expect(await c.push(event())).toMatchObject({ result: 'retry', server: 'primary' });
    expect(await c.push(event())).toMatchObject({ result: 'retry', server: 'primary' });
    expect(await c.push(event({ ip: '192.0.2.77' }))).toMatchObject({ result: 'delivered', server: 'secondary' });
    expect(secondary.identities()['192.0.2.77']).toBeDefined();
    expect(await metricValue(metrics, 'failovers', { to: 'secondary' })).toBe(1);
    expect(await metricValue(metrics, 'activeServer', { server: 'secondary' })).toBe(1);
    expect(await metricValue(metrics, 'activeServer', { server: 'primary' })).toBe(0);

    primary.setFaults({ offline: false });
    clock.advance(29_000);
    expect(await c.push(event())).toMatchObject({ server: 'secondary' }); // probe not due yet
    expect(primary.counters().tokens).toBe(1);
    clock.advance(1_000);
    expect(await c.push(event())).toMatchObject({ server: 'secondary' }); // starts the probe beside the push
    await vi.waitFor(async () => expect(await metricValue(metrics, 'activeServer', { server: 'primary' })).toBe(1), {
      timeout: 3000,
      interval: 10,
    });
    expect(await c.push(event({ ip: '192.0.2.78' }))).toMatchObject({ result: 'delivered', server: 'primary' });
    expect(primary.identities()['192.0.2.78']).toBeDefined();
    expect(await metricValue(metrics, 'failovers', { to: 'primary' })).toBe(1);
    expect(logs.text()).toContain('switched to the secondary');
    expect(logs.text()).toContain('switched to the primary');
  });

  it('a failed probe keeps the secondary and waits another interval', async () => {
    const clock = fakeClock();
    const { sim: primary, port: p1 } = await sim({ clock });
    const { port: p2 } = await sim({ clock });
    const cfg = jimsConfig(p1, {
      secondary: { host: '127.0.0.1', port: p2, scheme: 'http', clientId: 'srx1', clientSecret: SECRET },
      failoverAfterFailures: 1,
      primaryProbeIntervalSecs: 30,
    });
    const { c, metrics } = client(cfg, { clock });
    primary.setFaults({ offline: 'refuse' });
    await c.push(event());
    expect(await c.push(event())).toMatchObject({ server: 'secondary' });
    clock.advance(30_000);
    await c.push(event());
    await vi.waitFor(() => expect(primary.counters().dropped).toBe(2), { timeout: 3000, interval: 10 });
    await c.close(); // waits for the probe to settle
    expect(await metricValue(metrics, 'activeServer', { server: 'secondary' })).toBe(1);
    expect(await metricValue(metrics, 'failovers', { to: 'primary' })).toBe(0);
  });

  it('concurrent pushes share one token request', async () => {
    const { sim: s, port } = await sim();
    const { c } = client(jimsConfig(port));
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => c.push(event({ ip: `192.0.2.${100 + i}` }))));
    expect(outcomes.every((o) => o.result === 'delivered')).toBe(true);
    expect(s.counters()).toMatchObject({ tokens: 1, pushes: 10, logons: 10 });
  });

  it('talks to an IPv6 literal host', async () => {
    const s = createJimsSimulator({ clients: [{ clientId: 'srx1', clientSecret: SECRET }] });
    const { port, url } = await s.listen(0, '::1');
    open.push(s);
    expect(url).toBe(`http://[::1]:${port}`);
    const { c } = client(jimsConfig(port, {}, { host: '::1' }));
    expect(await c.push(event({ ip: '2001:db8::77' }))).toMatchObject({ result: 'delivered' });
    expect(s.identities()['2001:db8::77']).toBeDefined();
  });

  it('reads the client secret from clientSecretFile (trailing newline dropped)', async () => {
    const { sim: s, port } = await sim();
    const readFile = (p: string) => {
      if (p === '/run/secrets/jims') return `${SECRET}\n`;
      throw new Error(`ENOENT: ${p}`);
    };
    const { c } = client(jimsConfig(port, {}, { clientSecret: undefined, clientSecretFile: '/run/secrets/jims' }), { readFile });
    expect(await c.push(event())).toMatchObject({ result: 'delivered' });
    expect(s.counters().tokens).toBe(1);
  });

  it('bad settings fail at start with every problem listed', () => {
    const readFile = (p: string): string => {
      throw new Error(`ENOENT: ${p}`);
    };
    const build = (cfg: Parameters<typeof createJimsClient>[0]) => {
      try {
        createJimsClient(cfg, { metrics: createMetrics(), logger: silentLogger, clock: fakeClock(), readFile });
      } catch (e) {
        return e as PtimError;
      }
      throw new Error('expected an error');
    };
    const secretErr = build(
      jimsConfig(
        1,
        {
          secondary: { host: '127.0.0.1', port: 2, scheme: 'http', clientId: 'srx1', clientSecretFile: '/nope/2' },
        },
        { clientSecret: undefined, clientSecretFile: '/nope/1', caFile: '/nope/ca.pem' },
      ),
    );
    expect(secretErr.code).toBe('PTIM_ERR_SECRET');
    expect(secretErr.problems.map((p) => p.path)).toEqual([
      'jims.primary.clientSecretFile',
      'jims.primary.caFile',
      'jims.secondary.clientSecretFile',
    ]);
    const templateErr = build(jimsConfig(1, { push: { template: '/nope/t.xml' } }));
    expect(templateErr.code).toBe('PTIM_ERR_TEMPLATE');
    expect(secretErr.report()).not.toContain(SECRET);
  });

  it('secrets and tokens never reach the log, whatever happens', async () => {
    const { sim: s, port } = await sim({ tokenLifetimeSecs: 120 });
    const logs = captureLogs();
    for (const style of ['json', 'form', 'basic'] as const) {
      const { c } = client(jimsConfig(port, { tokenRequestStyle: style }), { logger: logs.logger });
      await c.push(event());
      s.revokeTokens();
      await c.push(event({ kind: 'disconnect' }));
      s.setFaults({ pushStatus: 403 });
      await c.push(event());
      s.setFaults({ pushStatus: null, errorRate: 1 });
      await c.push(event());
      s.setFaults({ errorRate: 0 });
      await c.probe();
    }
    const { c: bad } = client(jimsConfig(port, {}, { clientSecret: `${SECRET}x` }), { logger: logs.logger });
    await bad.push(event());
    const text = logs.text();
    expect(logs.lines().filter((l) => l.msg === 'JIMS push delivered').length).toBeGreaterThanOrEqual(6);
    expect(logs.lines().find((l) => l.msg === 'JIMS push delivered')).toMatchObject({
      correlationId: expect.any(String),
      ip: '192.0.2.10',
      seq: expect.any(Number),
      kind: expect.any(String),
      server: 'primary',
      status: 200,
      durationMs: expect.any(Number),
    });
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(encodeURIComponent(SECRET));
    expect(text).not.toContain(
      Buffer.from(`srx1:${encodeURIComponent(SECRET)}`)
        .toString('base64')
        .slice(0, 12),
    );
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i); // issued access tokens
    expect(text.toLowerCase()).not.toContain('bearer');
  });

  describe('batched pushes (templates that carry a list)', () => {
    it.each(['userfw-xml', 'userfw-json'])(
      '%s: pushes of one turn share a request; each gets its outcome; order kept',
      async (template) => {
        const { sim: s, port } = await sim({ push: { template } });
        const { c } = client(jimsConfig(port, { push: { template } }));
        const events = [
          event({ ip: '192.0.2.1', user: 'a' }),
          event({ ip: '2001:db8::2', user: 'b' }),
          event({ ip: '192.0.2.3', user: 'c', kind: 'disconnect' }),
          event({ ip: '192.0.2.4', user: 'd' }),
        ];
        const outcomes = await Promise.all(events.map((e) => c.push(e)));
        expect(outcomes.map((o) => o.result)).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
        expect(s.counters()).toMatchObject({ pushRequests: 1, pushes: 4 });
        expect(s.operations().map((o) => [o.ip, o.op])).toEqual([
          ['192.0.2.1', 'logon'],
          ['2001:db8::2', 'logon'],
          ['192.0.2.3', 'logoff'],
          ['192.0.2.4', 'logon'],
        ]);
      },
    );

    it('maxEntriesPerRequest bounds a request; 1 sends one event per request', async () => {
      const { sim: s, port } = await sim();
      const { c } = client(jimsConfig(port, { push: { maxEntriesPerRequest: 2 } }));
      await Promise.all([1, 2, 3, 4, 5].map((i) => c.push(event({ ip: `192.0.2.${i}` }))));
      expect(s.counters()).toMatchObject({ pushRequests: 3, pushes: 5 });
      const { sim: s1, port: p1 } = await sim();
      const { c: c1 } = client(jimsConfig(p1, { push: { maxEntriesPerRequest: 1 } }));
      await Promise.all([1, 2, 3].map((i) => c1.push(event({ ip: `192.0.2.${i}` }))));
      expect(s1.counters()).toMatchObject({ pushRequests: 3, pushes: 3 });
    });

    it('a refused request is split until the bad entry stands alone: it is permanent, the others are delivered, in order', async () => {
      const { sim: s, port } = await sim();
      const { c } = client(jimsConfig(port));
      const ips = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5'];
      // An empty user: the simulator refuses any body that holds it (400).
      const outcomes = await Promise.all(ips.map((ip, i) => c.push(event({ ip, user: i === 3 ? '' : `u${i}` }))));
      expect(outcomes.map((o) => o.result)).toEqual(['delivered', 'delivered', 'delivered', 'permanent', 'delivered']);
      expect(outcomes[3]).toMatchObject({ result: 'permanent', status: 400, reason: 'http:400' });
      expect(s.operations().map((o) => o.ip)).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.5']);
      expect(Object.keys(s.identities()).sort()).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.5']);
    });

    it("a retryable answer is every entry's: each will be retried, none is lost", async () => {
      const { sim: s, port } = await sim({ faults: { pushStatus: 503 } });
      const { c } = client(jimsConfig(port));
      const outcomes = await Promise.all([1, 2, 3].map((i) => c.push(event({ ip: `192.0.2.${i}` }))));
      expect(outcomes.map((o) => o.result)).toEqual(['retry', 'retry', 'retry']);
      expect(s.counters()).toMatchObject({ statusInjected: 1 });
    });
  });
});
