// Shared set-up for the ingest socket tests: receivers on loopback port 0, a recording sink
// that can be awaited, a fake clock, a fresh metrics registry and a captured log.
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { defaultConfig, type Config, type IngestConfig } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/log.js';
import { createMetrics, type Metrics } from '../../../src/ops/metrics.js';
import { createReceivers, type IngestDeps, type Receivers } from '../../../src/ingest/receivers.js';
import { retainBytes } from '../../../src/ingest/receiver.js';
import { waitFor } from '../../helpers/wait.js';
import type { RawMessage, Transport } from '../../../src/types.js';

export const FAKE_NOW = 1_767_225_600_000;

type DeepPartialIngest = Partial<Omit<IngestConfig, 'udp' | 'tcp' | 'tls'>> & {
  udp?: Partial<IngestConfig['udp']>;
  tcp?: Partial<IngestConfig['tcp']>;
  tls?: Partial<IngestConfig['tls']>;
};

export interface Harness {
  receivers: Receivers;
  metrics: Metrics;
  messages: RawMessage[];
  logLines: Array<Record<string, unknown>>;
  /** Resolves once `n` messages arrived in total; rejects after `ms`. */
  waitForMessages(n: number, ms?: number): Promise<RawMessage[]>;
  /** Resolves once `read()` returns true; rejects after `ms`. */
  waitUntil(what: string, read: () => Promise<boolean> | boolean, ms?: number): Promise<void>;
  port(transport: Transport, family?: 'IPv4' | 'IPv6'): number;
  counter(name: keyof Metrics, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

/** All listeners disabled unless the test enables them; loopback, port 0. */
export async function startHarness(
  ingest: DeepPartialIngest,
  opts: { firewalls?: Config['firewalls']; timing?: IngestDeps['timing']; sinkThrowsOn?: (m: RawMessage) => boolean } = {},
): Promise<Harness> {
  const base = defaultConfig();
  const cfg: Pick<Config, 'ingest' | 'firewalls'> = {
    firewalls: opts.firewalls ?? [],
    ingest: {
      ...base.ingest,
      ...ingest,
      udp: { ...base.ingest.udp, enabled: false, bind: ['127.0.0.1'], port: 0, ...ingest.udp },
      tcp: { ...base.ingest.tcp, enabled: false, bind: ['127.0.0.1'], port: 0, ...ingest.tcp },
      tls: { ...base.ingest.tls, enabled: false, bind: ['127.0.0.1'], port: 0, ...ingest.tls },
    },
  };
  const metrics = createMetrics();
  const messages: RawMessage[] = [];
  const events = new EventEmitter();
  const logLines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const receivers = createReceivers(cfg, {
    sink: (m) => {
      if (opts.sinkThrowsOn?.(m)) throw new Error('downstream bug');
      messages.push(retainBytes(m));
      events.emit('message');
    },
    clock: { now: () => FAKE_NOW },
    metrics,
    logger: createLogger({ level: 'debug' }, dest),
    ...(opts.timing ? { timing: opts.timing } : {}),
  });
  await receivers.start();

  const counter = async (name: keyof Metrics, labels: Record<string, string> = {}) => {
    const m = metrics[name] as unknown as { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> };
    const { values } = await m.get();
    return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
  };

  // Counters have no events: re-check the condition on a short poll, bounded by the deadline.
  const waitUntil = (what: string, read: () => Promise<boolean> | boolean, ms = 5000) =>
    waitFor(read, { what, timeoutMs: ms, intervalMs: 5 });

  return {
    receivers,
    metrics,
    messages,
    logLines,
    waitForMessages(n, ms = 5000) {
      return new Promise<RawMessage[]>((resolve, reject) => {
        const check = () => {
          if (messages.length < n) return;
          clearTimeout(timer);
          events.off('message', check);
          resolve(messages);
        };
        const timer = setTimeout(() => {
          events.off('message', check);
          reject(new Error(`timed out: ${messages.length} of ${n} messages`));
        }, ms);
        events.on('message', check);
        check();
      });
    },
    waitUntil,
    port(transport, family = 'IPv4') {
      const a = receivers.addresses().find((x) => x.transport === transport && x.family === family);
      if (!a) throw new Error(`no ${transport} ${family} listener`);
      return a.port;
    },
    counter,
    stop: () => receivers.stop(),
  };
}

export const text = (ms: RawMessage[]) => ms.map((m) => m.bytes.toString('latin1'));
