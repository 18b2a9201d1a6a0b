// The receive thread's pauses (ingest.readPauseMs) need a receive buffer that holds a pause's
// worth of burst: with a small one the bridge reads without pauses, says so once, and still
// receives every line.
import { describe, expect, it } from 'vitest';
import { captureLogs } from '../../helpers/sink.js';
import { accounting, e2eConfig, useStack, vpnLine, waitFor, waitReceived } from './harness.js';

const stack = useStack();

describe('reading in bursts', () => {
  it('reads without pauses when a UDP receive buffer cannot hold one, and still receives every line', async () => {
    const logs = captureLogs('info');
    const bridge = await stack.bridge(
      e2eConfig(stack.redis, stack.jims.port, { ingest: { udp: { receiveBufferBytes: 128 * 1024 }, readPauseMs: 2 } }),
      undefined,
      { logger: logs.logger },
    );
    await waitFor(async () => logs.text().includes('reading without pauses'), { what: 'the log line' });
    const line = logs
      .lines()
      .find(
        (l) => l.msg === 'reading without pauses: a UDP receive buffer is too small to hold a pause (raise net.core.rmem_max)',
      );
    expect(line).toMatchObject({ setting: 'ingest.readPauseMs', readPauseMs: 2 });
    expect(line!.usableReceiveBufferBytes).toBeLessThan(2 * 1024 * 1024);

    const lines = Array.from({ length: 40 }, (_, i) => vpnLine({ kind: 'up', user: `burst${i}`, ip: `192.0.2.${100 + i}` }));
    await bridge.send(lines);
    await waitReceived(bridge, lines.length);
    await bridge.applied();
    await waitFor(async () => (await accounting(bridge.metrics)).delivered >= lines.length, { what: 'every push' });
  });
});
