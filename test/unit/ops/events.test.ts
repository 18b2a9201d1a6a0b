// Operational events: every occurrence counted with its fixed labels, log lines bounded per event
// and label values, the held-back count reported, errors logged one way.
import { describe, expect, it } from 'vitest';
import { captureLogs } from '../../helpers/sink.js';
import { createEvents, DEFAULT_LOG_PER_MINUTE, errorFields, EVENTS } from '../../../src/events.js';
import { createMetrics } from '../../../src/ops/metrics.js';

function setup(logPerMinute?: Parameters<typeof createEvents>[0]['logPerMinute']) {
  const logs = captureLogs();
  let t = 0;
  const metrics = createMetrics();
  const emit = createEvents({
    metrics,
    logger: logs.logger,
    now: () => t,
    ...(logPerMinute ? { logPerMinute } : {}),
  });
  const value = async (name: string, labels: Record<string, string>) =>
    (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) =>
      Object.entries(labels).every(([k, x]) => v.labels[k] === x),
    )?.value ?? 0;
  return {
    get lines() {
      return logs.lines();
    },
    emit,
    value,
    advance: (ms: number) => void (t += ms),
  };
}

describe('operational events', () => {
  it('counts every occurrence, logs at the default rate per event, then says how many were held back', async () => {
    const s = setup();
    for (let k = 0; k < 10; k++) s.emit('outbox_relay_error', { err: new Error('READONLY') });
    s.emit('push_worker_error', { err: new Error('x') }); // another event is not drowned by the first
    expect(await s.value('ptim_operational_events_total', { event: 'outbox_relay_error' })).toBe(10);
    expect(s.lines.filter((l) => l.event === 'outbox_relay_error')).toHaveLength(DEFAULT_LOG_PER_MINUTE);
    expect(s.lines.filter((l) => l.event === 'push_worker_error')).toHaveLength(1);
    s.advance(60_000);
    s.emit('outbox_relay_error', { err: new Error('READONLY') });
    expect(s.lines.at(-1)).toMatchObject({
      event: 'outbox_relay_error',
      level: 40,
      msg: EVENTS.outbox_relay_error.message,
      suppressed: 10 - DEFAULT_LOG_PER_MINUTE,
      err: { type: 'Error', message: 'READONLY' },
    });
  });

  it('adds to the counter the definition names, with its fixed and given labels; rates are kept per label values', async () => {
    const s = setup({ syslog_not_allowed: 1 });
    for (let k = 0; k < 3; k++) s.emit('syslog_not_allowed', { labels: { transport: 'udp' }, source: '192.0.2.1' });
    s.emit('syslog_not_allowed', { labels: { transport: 'tcp' }, source: '192.0.2.1' });
    expect(await s.value('ptim_syslog_dropped_total', { transport: 'udp', reason: 'not_allowed' })).toBe(3);
    expect(await s.value('ptim_syslog_dropped_total', { transport: 'tcp', reason: 'not_allowed' })).toBe(1);
    expect(s.lines.map((l) => l.transport)).toEqual(['udp', 'tcp']);
    expect(s.lines[0]).toMatchObject({ setting: 'ingest.allowedSources', source: '192.0.2.1' });
    expect(String(s.lines[0]!.msg)).toContain('192.0.2.1');
  });

  it('defines every event so that it can be counted with the labels it names', () => {
    const s = setup();
    for (const [name, d] of Object.entries(EVENTS)) {
      const labels = Object.fromEntries(d.labels.map((l) => [l, 'x']));
      expect(() => s.emit(name as never, { labels } as never), name).not.toThrow();
    }
  });

  it('counts a batch occurrence by its count', async () => {
    const s = setup();
    s.emit('history_write_failed', { err: new Error('OOM'), count: 5, entries: 5 });
    expect(await s.value('ptim_history_entries_total', { result: 'error' })).toBe(5);
  });

  it('logs an error as its type, message and code, nothing else', () => {
    const e = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', options: { password: 'secret' } });
    expect(errorFields(e)).toEqual({ type: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' });
    expect(errorFields({ message: 'reset', code: 'ECONNRESET' })).toEqual({
      type: 'Error',
      message: 'reset',
      code: 'ECONNRESET',
    });
    expect(errorFields('plain')).toEqual({ type: 'string', message: 'plain' });
  });
});
