// A push outcome's log line is the identity event's audit record: the decision that emitted the
// event is logged at debug only, so the line carries the event whole.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { jobLine, outcomeLine, settleOutcome } from '../../../src/queue/attempt.js';
import type { IdentityEvent } from '../../../src/types.js';

const T0 = 1_700_000_000_000;
const event = (over: Partial<IdentityEvent> = {}): IdentityEvent => ({
  kind: 'connect',
  ip: '192.0.2.10',
  user: 'alice',
  domain: 'example.com',
  seq: 3,
  firewall: 'srx-a',
  at: T0,
  receivedAt: T0,
  correlationId: 'corr-1',
  ...over,
});

describe('push outcome lines', () => {
  it('carry the identity event: user, domain, IP, kind, seq, firewall, correlation id, job and attempt', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const deps = { metrics: createMetrics(), logger, clock: { now: () => T0 + 5 }, maxAgeMs: 60_000, maxEventAgeSecs: 60 };
    const ev = event();
    settleOutcome(deps, ev, { result: 'delivered', status: 200, server: 'primary' }, jobLine(ev, '192.0.2.10-3', 1));
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'push delivered',
        correlationId: 'corr-1',
        jobId: '192.0.2.10-3',
        ip: '192.0.2.10',
        user: 'alice',
        domain: 'example.com',
        kind: 'connect',
        seq: 3,
        firewall: 'srx-a',
        attempt: 1,
        outcome: 'delivered',
        status: 200,
        server: 'primary',
      }),
    ]);
  });

  it("carry a disconnect's reason, and no reason field for other events", () => {
    expect(jobLine(event({ kind: 'disconnect', reason: 'replaced' }), 'j', 2)).toMatchObject({
      kind: 'disconnect',
      reason: 'replaced',
      attempt: 2,
    });
    expect(jobLine(event(), 'j', 1)).not.toHaveProperty('reason');
  });

  it('put the outcome after the job line, which stays as it was', () => {
    const line = jobLine(event(), 'j', 1);
    const before = { ...line };
    const out = outcomeLine(line, { outcome: 'retry', reason: 'http-503' });
    expect(Object.keys(out)).toEqual([...Object.keys(line), 'outcome', 'reason']);
    expect(out).toMatchObject({ ...before, outcome: 'retry', reason: 'http-503' });
    expect(line).toEqual(before);
  });
});
