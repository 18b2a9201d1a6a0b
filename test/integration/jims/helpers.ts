// Shared bits of the JIMS client ↔ simulator tests: a settable clock, a log capture, events.
import { Writable } from 'node:stream';
import { jimsSchema, type JimsConfig } from '../../../src/config/schema.js';
import { createLogger, type Logger } from '../../../src/log.js';
import type { IdentityEvent } from '../../../src/types.js';

export const SECRET = 'Sup3r-S3cret-Value!&=';

export function fakeClock(start = Date.UTC(2026, 0, 15, 12, 0, 0)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

export function captureLogs(): { logger: Logger; text: () => string; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', name: 'test' }, stream);
  const text = () => chunks.join('');
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

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
