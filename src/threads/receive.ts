// Main-thread handle of the receive thread: start/stop with the same coded errors the receivers
// throw (PTIM_ERR_BIND, PTIM_ERR_SECRET, PTIM_ERR_CONFIG), bound addresses, batches out, acks in.
import type { Emit } from '../events.js';
import type { Worker } from 'node:worker_threads';
import type { ListenerAddress } from '../ingest/receiver.js';
import type { Logger } from '../log.js';
import type { MetricsSnapshot } from './metrics.js';
import { createChannel, type Message } from './channel.js';
import { coalesceAcks, type WireBatch } from './handoff.js';
import { replayLog, type LogRecord } from './log.js';
import { firstMessage, fromWireError, siblingModule, spawnThread, type WireError } from './spawn.js';
import type { ReceiveThreadData } from './receive-thread.js';

export interface ReceiveThread {
  start(): Promise<void>;
  /** Stops the sockets (framers flushed); resolves with the seq of the last batch sent. */
  stop(): Promise<number>;
  /** Sends the pending batch; resolves with the seq of the last batch sent (undefined if gone). */
  flush(): Promise<number | undefined>;
  /** The lines of an applied batch; one message per event-loop turn carries the turn's acks. */
  ack(lines: number): void;
  setLiterals(literals: readonly string[]): void;
  addresses(): ListenerAddress[];
  ready(): boolean;
  snapshot(timeoutMs: number): Promise<MetricsSnapshot | undefined>;
  terminate(): Promise<void>;
}

const REPLY_MS = 30_000;

type Reply = Message & { error?: WireError; addresses?: ListenerAddress[]; seq?: number; json?: MetricsSnapshot };

export async function openReceiveThread(
  data: ReceiveThreadData,
  deps: { logger: Logger; emit: Emit; onBatch: (batch: WireBatch) => void },
): Promise<ReceiveThread> {
  const worker: Worker = spawnThread(siblingModule(import.meta.url, 'receive-thread'), { workerData: data });
  const channel = createChannel(worker);
  let addresses: ListenerAddress[] = [];
  let running = false;
  let alive = true;
  channel.on('log', (r: LogRecord) => replayLog(deps.logger, 'receive', r));
  channel.on('batch', (m: Message & { batch: WireBatch }) => deps.onBatch(m.batch));
  worker.on('exit', (code) => {
    alive = false;
    channel.abandon();
    if (running) deps.emit('receive_thread_exited', { code });
    running = false;
  });
  worker.on('error', (err) => deps.emit('receive_thread_failed', { err }));
  const ack = coalesceAcks(
    (lines) => alive && channel.post({ t: 'ack', lines } as Message),
    (send) => setImmediate(send),
  );

  const created = (await firstMessage(worker, channel, ['created', 'failed'])) as Reply;
  if (created.t === 'failed') {
    await worker.terminate();
    throw fromWireError(created.error!, 'PTIM_ERR_CONFIG');
  }

  return {
    async start() {
      const r = await channel.request<Reply>({ t: 'start' }, REPLY_MS);
      if (!r || r.t === 'failed') throw fromWireError(r?.error ?? { message: 'receive thread did not start' }, 'PTIM_ERR_BIND');
      addresses = r.addresses ?? [];
      running = true;
    },
    async stop() {
      running = false;
      const r = await channel.request<Reply>({ t: 'stop' }, REPLY_MS);
      addresses = [];
      return r?.seq ?? 0;
    },
    async flush() {
      if (!alive) return undefined;
      return (await channel.request<Reply>({ t: 'flush' }, REPLY_MS))?.seq;
    },
    ack,
    setLiterals: (literals) => alive && channel.post({ t: 'literals', literals } as Message),
    addresses: () => addresses,
    ready: () => running && alive,
    async snapshot(timeoutMs) {
      if (!alive) return undefined;
      return (await channel.request<Reply>({ t: 'metrics' }, timeoutMs))?.json;
    },
    async terminate() {
      await worker.terminate();
    },
  };
}
