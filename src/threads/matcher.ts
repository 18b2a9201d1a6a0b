// Main-thread supervisor of the matcher thread. It keeps every batch until the matcher answers
// it, watches the heartbeat, and when one line runs past patterns.matchTimeoutMs it ends the
// thread, abandons that line (counted), quarantines the pattern that ran away, starts a new
// matcher and gives it the unanswered batches again. Ingest keeps flowing meanwhile: the receive
// thread goes on receiving and the batches wait here (bounded by ingest.handoffMaxLines).
import type { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock, VpnEvent } from '../types.js';
import { createChannel, type Channel, type Message } from './channel.js';
import { unpackBatch, type WireBatch } from './handoff.js';
import { createHeartbeat, createWatchdog, type HeartbeatState } from './heartbeat.js';
import { replayLog, type LogRecord } from './log.js';
import type { MatcherThreadData } from './matcher-thread.js';
import type { MetricsSnapshot } from './metrics.js';
import { lineShape, type QuarantineEntry, type QuarantineStore } from './quarantine.js';
import { firstMessage, fromWireError, siblingModule, spawnThread, type WireError } from './spawn.js';
import type { LibrarySummary } from './watched-library.js';

export interface MatcherDeps {
  readonly data: Omit<MatcherThreadData, 'heartbeat' | 'quarantined'>;
  readonly matchTimeoutMs: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The injected clock (quarantine records' time). */
  readonly clock: Clock;
  /** Real monotonic milliseconds for the watchdog (a runaway is measured in real time). */
  readonly monotonicNow: () => number;
  readonly store?: QuarantineStore;
  readonly onDone: (batch: WireBatch, events: readonly VpnEvent[]) => void;
}

export interface MatcherSupervisor {
  /** Loads quarantine records and starts the first matcher; rejects with its load error. */
  start(): Promise<LibrarySummary>;
  submit(batch: WireBatch): void;
  /** Reloads the library in the matcher thread (PtimError PTIM_ERR_PATTERN when it is refused). */
  reload(): Promise<LibrarySummary>;
  /** Seq of the oldest batch not answered yet. */
  oldestPending(): number | undefined;
  /** Quarantine records found in the store at start (persisted by an earlier run or replica). */
  restore(): Promise<void>;
  ready(): boolean;
  quarantined(): readonly QuarantineEntry[];
  snapshots(timeoutMs: number): Promise<MetricsSnapshot[]>;
  close(): Promise<void>;
}

const RELOAD_MS = 120_000;
const SNAPSHOT_EVERY_MS = 2000;

interface Running {
  readonly worker: Worker;
  readonly channel: Channel;
  ready: boolean;
  last?: MetricsSnapshot;
}

type Reply = Message & { summary?: LibrarySummary; error?: WireError; json?: MetricsSnapshot };

export function createMatcherSupervisor(deps: MatcherDeps): MatcherSupervisor {
  const { logger, metrics } = deps;
  const heartbeat = createHeartbeat();
  const inflight = new Map<number, { batch: WireBatch; skip: number[] }>();
  const quarantine = new Map<string, QuarantineEntry>();
  const retired: MetricsSnapshot[] = [];
  let current: Running | undefined;
  let summary: LibrarySummary | undefined;
  let closed = false;
  let timers: NodeJS.Timeout[] = [];

  const send = (r: Running, seq: number) => {
    const e = inflight.get(seq);
    if (e) r.channel.post({ t: 'batch', batch: e.batch, ...(e.skip.length ? { skip: e.skip } : {}) } as Message);
  };

  function spawn(): Promise<LibrarySummary> {
    const worker = spawnThread(siblingModule(import.meta.url, 'matcher-thread'), {
      workerData: { ...deps.data, heartbeat: heartbeat.buffer, quarantined: [...quarantine.keys()] } satisfies MatcherThreadData,
    });
    const channel = createChannel(worker);
    const r: Running = { worker, channel, ready: false };
    current = r;
    channel.on('log', (m: LogRecord) => replayLog(logger, 'matcher', m));
    channel.on('done', (m: Message & { seq: number; events: VpnEvent[] }) => {
      const e = inflight.get(m.seq);
      if (!e || current !== r) return;
      inflight.delete(m.seq);
      deps.onDone(e.batch, m.events);
    });
    worker.on('error', (err) => logger.error({ err }, 'matcher thread failed'));
    worker.on('exit', (code) => {
      channel.abandon();
      if (current === r && !closed) {
        logger.error({ code }, 'matcher thread exited; starting a new one');
        void restart(r);
      }
    });
    return firstMessage(worker, channel, ['ready', 'failed']).then((m: Reply) => {
      if (m.t === 'failed') throw fromWireError(m.error!, 'PTIM_ERR_PATTERN');
      r.ready = true;
      summary = m.summary;
      for (const seq of inflight.keys()) send(r, seq);
      return m.summary!;
    });
  }

  async function restart(old: Running): Promise<void> {
    // Counters of the ended thread stay in /metrics as of its last report; its gauges do not.
    if (old.last) retired.push(old.last.filter((m) => String(m.type) === 'counter'));
    heartbeat.end();
    metrics.matcherRestarts.inc();
    for (let attempt = 1; !closed; attempt++) {
      try {
        await spawn();
        return;
      } catch (e) {
        logger.error({ err: e, attempt }, 'matcher thread could not start; retrying');
        await new Promise((res) => setTimeout(res, Math.min(30_000, 1000 * attempt)).unref());
      }
    }
  }

  function quarantinePattern(state: HeartbeatState, line: Buffer | undefined): void {
    const p = summary?.patterns[state.pattern];
    if (!p || quarantine.has(p.key)) return;
    const [patternId, regexHash = ''] = p.key.split(':');
    const entry: QuarantineEntry = {
      key: p.key,
      patternId: patternId ?? p.id,
      regexHash,
      at: new Date(deps.clock.now()).toISOString(),
      lineBytes: line?.length ?? 0,
      lineShape: line ? lineShape(line) : '',
      matchTimeoutMs: deps.matchTimeoutMs,
    };
    quarantine.set(p.key, entry);
    metrics.patternsQuarantined.set(quarantine.size);
    metrics.quarantines.inc({ pattern: p.id });
    logger.error(
      { pattern: p.id, regexHash, lineBytes: entry.lineBytes, lineShape: entry.lineShape, setting: 'patterns.matchTimeoutMs' },
      `pattern ${p.id} ran past ${deps.matchTimeoutMs} ms on one line: quarantined (skipped from now on; fix its regex and reload)`,
    );
    deps.store
      ?.add(entry)
      .catch((err: unknown) => logger.error({ err, pattern: p.id }, 'could not persist the pattern quarantine'));
  }

  function onRunaway(state: HeartbeatState): void {
    const r = current;
    if (!r?.ready || closed) return;
    current = undefined;
    const e = inflight.get(state.seq);
    const line = e ? unpackBatch(e.batch)[state.line]?.bytes : undefined;
    e?.skip.push(state.line);
    metrics.matchTimeouts.inc();
    quarantinePattern(state, line);
    void r.worker.terminate().then(() => restart(r));
  }

  const watchdog = createWatchdog({ timeoutMs: deps.matchTimeoutMs, read: heartbeat.read, now: deps.monotonicNow, onRunaway });

  async function snapshot(r: Running | undefined, timeoutMs: number): Promise<MetricsSnapshot | undefined> {
    if (!r?.ready) return r?.last;
    const reply = await r.channel.request<Reply>({ t: 'metrics' }, timeoutMs);
    if (reply?.json) r.last = reply.json;
    return r.last;
  }

  return {
    async start() {
      const s = await spawn();
      timers = [
        setInterval(() => watchdog.tick(), Math.max(5, Math.floor(deps.matchTimeoutMs / 5))),
        setInterval(() => void snapshot(current, SNAPSHOT_EVERY_MS), SNAPSHOT_EVERY_MS),
      ];
      for (const t of timers) t.unref();
      return s;
    },
    submit(batch) {
      inflight.set(batch.seq, { batch, skip: [] });
      if (current?.ready) send(current, batch.seq);
    },
    async reload() {
      const r = current;
      const reply = r?.ready ? await r.channel.request<Reply>({ t: 'reload' }, RELOAD_MS) : undefined;
      if (!reply) throw fromWireError({ message: 'the matcher thread is restarting; reload again' }, 'PTIM_ERR_PATTERN');
      if (reply.error) throw fromWireError(reply.error, 'PTIM_ERR_PATTERN');
      summary = reply.summary;
      return reply.summary!;
    },
    oldestPending: () => inflight.keys().next().value,
    async restore() {
      const found = (await deps.store?.list()) ?? [];
      const fresh = found.filter((q) => !quarantine.has(q.key));
      for (const q of fresh) quarantine.set(q.key, q);
      metrics.patternsQuarantined.set(quarantine.size);
      if (fresh.length > 0) current?.channel.post({ t: 'quarantine', keys: fresh.map((q) => q.key) } as Message);
    },
    ready: () => current?.ready === true,
    quarantined: () => [...quarantine.values()],
    async snapshots(timeoutMs) {
      const s = await snapshot(current, timeoutMs);
      return [...retired, ...(s ? [s] : [])];
    },
    async close() {
      closed = true;
      for (const t of timers) clearInterval(t);
      const r = current;
      current = undefined;
      await r?.worker.terminate();
    },
  };
}
