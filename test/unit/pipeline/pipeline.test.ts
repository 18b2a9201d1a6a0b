// The pipeline's contract besides the golden outcomes: metrics, rate-limited near-miss logs,
// atomic library swap.
import { Writable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, type IdentityConfig } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/log.js';
import { loadLibrary, type Library } from '../../../src/match/library.js';
import { createMetrics, type Metrics } from '../../../src/ops/metrics.js';
import { createPipeline } from '../../../src/pipeline.js';
import { loadSamples } from '../../fixtures/samples.js';
import { PATTERNS_DIR, rawOf } from '../../helpers/pipeline-golden.js';

const sample = (id: string) => loadSamples().find((s) => s.id === id)!.bytes;
const value = async (
  m: Metrics,
  key: 'prefilter' | 'matched' | 'ignored' | 'vpnEvents' | 'nearMisses' | 'domainAliasConflicts',
  labels: Record<string, string> = {},
) => (await m[key].get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k as never] === x))?.value ?? 0;

describe('pipeline', () => {
  let library: Library;
  beforeAll(async () => {
    library = await loadLibrary([PATTERNS_DIR]);
  });

  function setup(identity: Partial<IdentityConfig> = {}) {
    const metrics = createMetrics();
    const logs: Record<string, unknown>[] = [];
    const logger = createLogger(
      { level: 'info' },
      new Writable({ write: (c: Buffer, _e, cb) => (logs.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }),
    );
    let now = 0;
    const clock = { now: () => now };
    const p = createPipeline({
      library,
      identity: { ...defaultConfig().identity, ...identity },
      metrics,
      logger,
      clock,
      nearMissLogPerMinute: 2,
    });
    return { p, metrics, logs, advance: (ms: number) => (now += ms) };
  }

  it('counts every outcome', async () => {
    const { p, metrics } = setup();
    for (const id of ['C1', 'C2', 'V1', 'V19', 'C20', 'C21']) p.process(rawOf(sample(id)));
    p.process({ ...rawOf(sample('C1')), truncated: true });
    p.flushMetrics();
    expect(await value(metrics, 'prefilter', { result: 'skipped' })).toBe(2);
    expect(await value(metrics, 'prefilter', { result: 'candidate' })).toBe(5);
    expect(await value(metrics, 'matched', { pattern: 'kmd-vpn-up' })).toBe(2);
    expect(await value(metrics, 'vpnEvents', { kind: 'up' })).toBe(1);
    expect(await value(metrics, 'vpnEvents', { kind: 'down' })).toBe(1);
    expect(await value(metrics, 'ignored', { reason: 'placeholder_user' })).toBe(1);
    expect(await value(metrics, 'ignored', { reason: 'truncated' })).toBe(1);
    expect(await value(metrics, 'nearMisses')).toBe(1);
    expect((await metrics.patternsLoaded.get()).values[0]?.value).toBe(6);
  });

  it('logs near-misses at a limited rate, then says how many it held back', () => {
    const { p, logs, advance } = setup();
    for (let i = 0; i < 5; i++) p.process(rawOf(sample('C20')));
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatchObject({ candidate: 'iked-vpn-up', reason: 'the text does not match the regex' });
    advance(60_000);
    p.process(rawOf(sample('C20')));
    expect(logs).toHaveLength(3);
    expect(logs[2]).toMatchObject({ suppressed: 3 });
  });

  it('counts a failing stage as pipeline_failed, not as a near miss', async () => {
    const { p, metrics, logs } = setup();
    const broken: Library = {
      ...library,
      patterns: library.patterns.map((x) =>
        Object.defineProperty({ ...x }, 'regex', {
          get() {
            throw new Error('a stage bug');
          },
        }),
      ),
    };
    p.setLibrary(broken);
    expect(p.process(rawOf(sample('C1')))).toMatchObject({ type: 'failed' });
    expect(await value(metrics, 'nearMisses')).toBe(0);
    expect((await metrics.operationalEvents.get()).values).toMatchObject([{ labels: { event: 'pipeline_failed' }, value: 1 }]);
    expect(logs.at(-1)).toMatchObject({ event: 'pipeline_failed', err: { message: 'a stage bug' } });
  });

  it('swaps the library for the next message', () => {
    const { p } = setup();
    expect(p.process(rawOf(sample('C1'))).type).toBe('event');
    const noKmd: Library = { ...library, patterns: library.patterns.filter((x) => !x.id.startsWith('kmd-')) };
    p.setLibrary(noKmd);
    expect(p.library).toBe(noKmd);
    expect(p.process(rawOf(sample('C1'))).type).toBe('near-miss');
  });

  it('counts excluded lines and gives no event for them', async () => {
    const { p, metrics } = setup({ excludeGateways: ['JSC-*'] });
    expect(p.process(rawOf(sample('C1')))).toMatchObject({ type: 'ignored', reason: 'excluded', patternId: 'kmd-vpn-up' });
    expect(await value(metrics, 'ignored', { reason: 'excluded' })).toBe(1);
    expect(await value(metrics, 'vpnEvents', { kind: 'up' })).toBe(0);
  });

  it('watches derived domains: a gateway giving two domains is counted and logged once', async () => {
    const { p, metrics, logs } = setup({ domainByGateway: { 'JSC-GW': 'gw.example' }, domainByVpn: { other: 'x' } });
    const line = sample('C1').toString('latin1');
    p.process(rawOf(Buffer.from(line, 'latin1')));
    // The same gateway, another VPN that has its own domain.
    for (let i = 0; i < 3; i++) p.process(rawOf(Buffer.from(line.replaceAll('JSC-VPN', 'other'), 'latin1')));
    expect(await value(metrics, 'domainAliasConflicts', { object: 'gateway' })).toBe(1);
    expect(logs.filter((l) => l.object === 'gateway')).toMatchObject([
      { name: 'JSC-GW', fix: 'give identity.domainByGateway["JSC-GW"] and identity.domainByVpn["other"] the same domain' },
    ]);
  });
});
