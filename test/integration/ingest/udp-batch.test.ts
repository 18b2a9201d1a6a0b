// The batched reader's addon on its own, in a worker thread as in production: a throwing handler
// is an uncaught error (as in a dgram 'message' listener), close() frees the port at once and may
// be called twice, and a bind error carries the errno name.
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { ADDON_PATH, loadBatchReads } from '../../../src/ingest/udp-batch.js';

/** Opens a reader on 127.0.0.1 in a worker; `onBatch` is the worker's handler body, `after` runs once it is open. */
function readerWorker(onBatch: string, after = '') {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const binding = require(${JSON.stringify(ADDON_PATH)});
    const slots = 8, slotBytes = 1026;
    const data = new Uint8Array(slots * slotBytes), meta = new Uint32Array(slots * binding.metaWords);
    const r = binding.open({ address: '127.0.0.1', port: 0, family: 4, receiveBufferBytes: 65536, slots, slotBytes,
      maxBatches: 2, data, meta, onBatch: (n) => { ${onBatch} }, onError: () => {} });
    parentPort.postMessage({ port: r.port });
    ${after}`;
  return new Worker(code, { eval: true });
}

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

describe('batched UDP reader (addon)', () => {
  it('is built', () => {
    expect(loadBatchReads().binding).toBeDefined();
  });

  it('a handler that throws is an uncaught error of its thread', async () => {
    const w = readerWorker(`throw new Error('handler bug after ' + n)`);
    workers.push(w);
    const [{ port }] = (await once(w, 'message')) as [{ port: number }];
    const s = createSocket('udp4');
    s.send('<30>x', port, '127.0.0.1');
    const [err] = (await once(w, 'error')) as [Error];
    s.close();
    expect(err.message).toBe('handler bug after 1');
  });

  it('close() frees the port at once, and a second close() does nothing', async () => {
    const w = readerWorker('', `r.close(); r.close(); parentPort.postMessage('closed');`);
    workers.push(w);
    const [{ port }] = (await once(w, 'message')) as [{ port: number }];
    await once(w, 'message');
    const probe = createSocket('udp4');
    probe.bind(port, '127.0.0.1');
    await once(probe, 'listening');
    probe.close();
  });

  it('a port in use is an error whose code is the errno name', async () => {
    const taken = createSocket('udp4');
    taken.bind(0, '127.0.0.1');
    await once(taken, 'listening');
    const binding = loadBatchReads().binding!;
    const open = () =>
      binding.open({
        address: '127.0.0.1',
        port: taken.address().port,
        family: 4,
        receiveBufferBytes: 65536,
        slots: 1,
        slotBytes: 1024,
        maxBatches: 1,
        data: new Uint8Array(1024),
        meta: new Uint32Array(binding.metaWords),
        onBatch: () => {},
        onError: () => {},
      });
    expect(open).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    taken.close();
  });
});
