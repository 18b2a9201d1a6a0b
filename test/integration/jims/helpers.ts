// Shared bits of the JIMS client ↔ simulator tests: a settable clock, a log capture (test/helpers), events.
import { jimsSchema, type JimsConfig } from '../../../src/config/schema.js';
import type { IdentityEvent } from '../../../src/types.js';

export const SECRET = 'Sup3r-S3cret-Value!&=';

export function fakeClock(start = Date.UTC(2026, 0, 15, 12, 0, 0)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

export { captureLogs } from '../../helpers/sink.js';

export function jimsConfig(port: number, over: Record<string, unknown> = {}, server: Record<string, unknown> = {}): JimsConfig {
  return jimsSchema.parse({
    primary: { host: '127.0.0.1', port, scheme: 'http', clientId: 'srx1', clientSecret: SECRET, ...server },
    requestTimeoutSecs: 2,
    ...over,
  });
}

let seq = 0;
export function event(over: Partial<IdentityEvent> = {}): IdentityEvent {
  seq++;
  return {
    kind: 'connect',
    ip: '192.0.2.10',
    user: 'alice',
    domain: 'example.com',
    seq,
    firewall: 'srx-1',
    vpn: 'ra-vpn',
    at: Date.UTC(2026, 0, 15, 12, 0, 0),
    receivedAt: Date.UTC(2026, 0, 15, 12, 0, 0),
    correlationId: `corr-${seq}`,
    ...over,
  };
}
