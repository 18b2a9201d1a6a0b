// `demo` on a busy machine: a port in use is one line naming the flag, before anything starts.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startDemo } from '../../../src/cli/demo.js';
import { PtimError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { createMetrics } from '../../../src/ops/metrics.js';

let busy: Server | undefined;
afterEach(() => busy?.close());

async function occupy(): Promise<number> {
  busy = createServer();
  await new Promise<void>((r) => busy!.listen(0, '127.0.0.1', () => r()));
  return (busy.address() as { port: number }).port;
}

describe('demo', () => {
  it.each([
    ['simPort', '--sim-port'],
    ['opsPort', '--ops-port'],
    ['syslogPort', '--syslog-port'],
  ] as const)('with %s in use fails with PTIM_ERR_BIND naming %s, on one line', async (option, flag) => {
    const port = await occupy();
    const opts = { syslogPort: 0, opsPort: 0, simPort: 0, redisUrl: 'redis://127.0.0.1:1', [option]: port };
    const err = await startDemo(opts, { logger: silentLogger, metrics: createMetrics() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PtimError);
    const report = (err as PtimError).report();
    expect((err as PtimError).code).toBe('PTIM_ERR_BIND');
    expect(report.split('\n')).toHaveLength(1);
    expect(report).toContain(`port ${port} is already in use`);
    expect(report).toContain(flag);
  });
});
