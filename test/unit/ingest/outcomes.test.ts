import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { captureLogs } from '../../helpers/sink.js';
import { CONNECTION_OUTCOMES, connectionOutcomes, type ConnectionOutcome } from '../../../src/ingest/outcomes.js';
import { createMetrics } from '../../../src/ops/metrics.js';

function setup() {
  const logs = captureLogs();
  let t = 0;
  const metrics = createMetrics();
  const report = connectionOutcomes({ metrics, logger: logs.logger, transport: 'tcp', now: () => t });
  const count = async (reason: string) =>
    (await metrics.dropped.get()).values.find((v) => v.labels.reason === reason && v.labels.transport === 'tcp')?.value ?? 0;
  return {
    get lines() {
      return logs.lines();
    },
    report,
    count,
    advance: (ms: number) => void (t += ms),
  };
}

describe('connection outcomes', () => {
  it('counts every report, logs at most 10 a minute per outcome, and says how many were suppressed', async () => {
    const s = setup();
    for (let k = 0; k < 25; k++) s.report('connection_limit', '192.0.2.1');
    s.report('evicted', '192.0.2.2'); // another outcome is not drowned by the first
    expect(await s.count('connection_limit')).toBe(25);
    expect(s.lines.filter((l) => l.event === 'syslog_connection_limit')).toHaveLength(10);
    expect(s.lines.find((l) => l.event === 'syslog_evicted')).toMatchObject({
      source: '192.0.2.2',
      setting: 'ingest.maxConnections',
    });
    s.advance(60_000);
    s.report('connection_limit', '192.0.2.1');
    expect(s.lines.at(-1)).toMatchObject({ event: 'syslog_connection_limit', suppressed: 15 });
  });

  it('defines a log line for every outcome, naming the source', () => {
    for (const [outcome, def] of Object.entries(CONNECTION_OUTCOMES) as [
      ConnectionOutcome,
      (typeof CONNECTION_OUTCOMES)[ConnectionOutcome],
    ][])
      expect(def.message('198.51.100.7'), outcome).toContain('198.51.100.7');
  });

  it('documents every outcome in the README (ptim_syslog_dropped_total reasons)', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(Object.keys(CONNECTION_OUTCOMES).filter((o) => !readme.includes(`\`${o}\``))).toEqual([]);
  });
});
