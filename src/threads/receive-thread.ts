// Entry of the receive thread: the syslog sockets (UDP, TCP, TLS), framing and the prefilter run
// here, away from Redis, HTTP and GC pauses of the main thread. Noise is counted and dropped here;
// candidate lines go to the matcher in batches through the bounded hand-off. It stamps each line
// with the real time it was framed (the main thread maps it onto the injected clock).
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { readKernelDrops, dropsDelta } from '../ingest/kernel-drops.js';
import { createReceivers, type IngestDeps, type Receivers } from '../ingest/receivers.js';
import { createEvents } from '../events.js';
import { createPrefilter } from '../match/prefilter.js';
import { createThreadMetrics } from './thread-metrics.js';
import { systemClock, type RawMessage } from '../types.js';
import { createChannel, type Endpoint, type Message } from './channel.js';
import { createHandoff } from './handoff.js';
import { allowedPauseMs, blockingSleep, createReadPacer, NO_PAUSES, type ReadPacer } from './read-pacer.js';
import { datagramsPerWakeup, usableBuffer } from '../ingest/udp.js';
import { threadLogger } from './log.js';
import { withLocalCounters } from './local-counters.js';
import { toWireError } from './spawn.js';

export interface ReceiveThreadData {
  readonly config: Pick<Config, 'ingest' | 'firewalls'>;
  readonly literals: readonly string[];
  readonly timing?: IngestDeps['timing'];
  readonly logLevel: string;
}

const BATCH_LINES = 256;
const KERNEL_POLL_MS = 5000;

const port = parentPort as unknown as Endpoint;
const data = workerData as ReceiveThreadData;
const channel = createChannel(port);
const logger = threadLogger(data.logLevel, (r) => port.postMessage(r));
const registryMetrics = createThreadMetrics();
// The per-line counters (received, bytes, prefilter skips) are settled before each snapshot.
const { metrics, settle } = withLocalCounters(registryMetrics, ['received', 'receivedBytes', 'prefilter']);
const clock = systemClock;

let prefilter = createPrefilter(data.literals);
const skipped = metrics.prefilter.labels({ result: 'skipped' });

const handoff = createHandoff({
  maxLines: data.config.ingest.handoffMaxLines,
  batchLines: BATCH_LINES,
  // The batch's buffer is shared, not transferred: the main thread keeps it and the matcher reads it.
  post: (batch) => port.postMessage({ t: 'batch', batch }),
  schedule: (f) => setImmediate(f),
});
const emit = createEvents({
  metrics,
  logger,
  now: () => clock.now(),
  logPerMinute: { handoff_full: data.config.ingest.droppedLogPerMinute },
});

// No pauses until the sockets are open and their buffers known.
let pacer: ReadPacer = NO_PAUSES;

/** Reads in bursts (`ingest.readPauseMs`) when every UDP socket's buffer holds a pause's worth. */
function startPacer(receivers: Receivers): void {
  const wanted = data.config.ingest.readPauseMs;
  const udp = receivers.addresses().filter((a) => a.transport === 'udp');
  const buffers = udp.flatMap((a) => (a.receiveBufferBytes ? [usableBuffer(a.receiveBufferBytes)] : []));
  const pauseMs = allowedPauseMs(wanted, buffers);
  if (pauseMs < wanted)
    logger.info(
      { setting: 'ingest.readPauseMs', readPauseMs: wanted, usableReceiveBufferBytes: Math.min(...buffers) },
      'reading without pauses: a UDP receive buffer is too small to hold a pause (raise net.core.rmem_max)',
    );
  pacer = createReadPacer({
    pauseMs,
    linesPerWakeup: Math.max(datagramsPerWakeup('dgram'), ...udp.map((a) => datagramsPerWakeup(a.reader ?? 'dgram'))),
    beforePause: () => handoff.flush(),
    schedule: (f) => setImmediate(f),
    sleep: blockingSleep(),
  });
}

function sink(raw: RawMessage): void {
  pacer.line();
  if (!prefilter(raw.bytes)) {
    skipped.inc();
    return;
  }
  if (handoff.offer(raw)) return;
  emit('handoff_full', { labels: { transport: raw.transport }, source: raw.sourceIp, queued: handoff.depth() });
}

// Kernel receive-queue drops of this thread's UDP sockets, as a counter that only grows.
let kernelDrops = 0;
metrics.kernelDrops.labels({ transport: 'udp' }).inc(0); // the series exists (at 0) from the start, so an alert can watch it
async function pollKernelDrops(receivers: Receivers): Promise<void> {
  const ports = receivers
    .addresses()
    .filter((a) => a.transport === 'udp')
    .map((a) => a.port);
  if (ports.length === 0) return;
  const now = await readKernelDrops(ports);
  if (now === undefined) return;
  const delta = dropsDelta(kernelDrops, now);
  kernelDrops = now;
  if (delta <= 0) return;
  emit('kernel_drops', { labels: { transport: 'udp' }, count: delta, dropped: delta, total: now });
}

function serve(receivers: Receivers): void {
  let poll: NodeJS.Timeout | undefined;
  // One read of /proc at a time: two overlapping ones could see the totals out of order, and a
  // lower total reads as a counter reset (counted again).
  let polling: Promise<void> | undefined;
  const pollOnce = () => (polling ??= pollKernelDrops(receivers).finally(() => (polling = undefined)));
  channel.on('start', (m: Message) => {
    receivers.start().then(
      () => {
        startPacer(receivers);
        poll = setInterval(() => void pollOnce(), KERNEL_POLL_MS);
        channel.reply(m, { t: 'started', addresses: receivers.addresses() } as Message);
      },
      (e: unknown) => channel.reply(m, { t: 'failed', error: toWireError(e) } as Message),
    );
  });
  channel.on('stop', (m: Message) => {
    clearInterval(poll);
    void receivers.stop().then(() => channel.reply(m, { t: 'stopped', seq: handoff.flush() } as Message));
  });
  channel.on('flush', (m: Message) => channel.reply(m, { t: 'flushed', seq: handoff.flush() } as Message));
  channel.on('ack', (m: Message & { lines: number }) => handoff.ack(m.lines));
  channel.on('literals', (m: Message & { literals: string[] }) => {
    prefilter = createPrefilter(m.literals);
  });
  channel.on('metrics', (m: Message) => {
    settle();
    metrics.handoffDepth.set(handoff.depth());
    void pollOnce()
      .catch(() => undefined)
      .then(() => metrics.registry.getMetricsAsJSON())
      .then((json) => channel.reply(m, { t: 'metrics', json } as Message));
  });
}

try {
  serve(createReceivers(data.config, { sink, clock, metrics, logger, timing: data.timing }));
  port.postMessage({ t: 'created' });
} catch (e) {
  port.postMessage({ t: 'failed', error: toWireError(e) });
}
