// Main-thread supervisor of the matcher thread. It keeps every batch until the matcher answers
// it, watches the heartbeat, and when one line runs past patterns.matchTimeoutMs it ends the
// thread, abandons that line (counted), quarantines the pattern that ran away, starts a new
// matcher and gives it the unanswered batches again. Ingest keeps flowing meanwhile: the receive
// thread goes on receiving and the batches wait here (bounded by ingest.handoffMaxLines).
import type { Worker } from 'node:worker_threads';
import type { Emit } from '../events.js';
import type { LibrarySpec } from '../match/runnable.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock, VpnEvent } from '../types.js';
import { createChannel, type Channel, type Message } from './channel.js';
import { oncePerTurn, unpackBatch, type BatchOrder, type WireBatch } from './handoff.js';
import { createHeartbeat, createWatchdog, type HeartbeatState } from './heartbeat.js';
import { replayLog, type LogRecord } from './log.js';
import type { MatcherThreadData } from './matcher-thread.js';
import type { MetricsSnapshot } from './metrics.js';
import { createQuarantineBook, type QuarantineEntry, type QuarantineStore } from './quarantine.js';
import { firstMessage, fromWireError, siblingModule, spawnThread, type WireError } from './spawn.js';
import type { LibrarySummary } from './watched-library.js';

export interface MatcherDeps {
  readonly data: Omit<MatcherThreadData, 'heartbeat' | 'quarantined' | 'library'>;
  readonly matchTimeoutMs: number;
  readonly logger: Logger;
  /** Operational events (thread failures, quarantines). */
  readonly emit: Emit;
  readonly metrics: Metrics;
  /** The injected clock (quarantine records' time). */
  readonly clock: Clock;
  /** Real monotonic milliseconds for the watchdog (a runaway is measured in real time). */
  readonly monotonicNow: () => number;
  readonly store?: QuarantineStore;
  readonly onDone: (batch: WireBatch, events: readonly VpnEvent[]) => void;
}

export interface MatcherSupervisor {
  /** Starts the first matcher with this library; rejects if the thread cannot run it (PTIM_ERR_PATTERN). */
  start(library: LibrarySpec): Promise<LibrarySummary>;
  submit(batch: WireBatch): void;
  /** Installs a library in the matcher thread, and in every restarted one (PtimError PTIM_ERR_PATTERN when it is refused). */
  reload(library: LibrarySpec): Promise<LibrarySummary>;
  /** Quarantine records found in the store at start (persisted by an earlier run or replica). */
  restore(): Promise<void>;
  /** Skips these patterns (patternKey) from now on, in this thread and every restarted one (a refused proof). */
  drop(keys: readonly string[]): void;
  ready(): boolean;
  quarantined(): readonly QuarantineEntry[];
  snapshots(timeoutMs: number): Promise<MetricsSnapshot[]>;
  close(): Promise<void>;
}

const RELOAD_MS = 120_000;
const SNAPSHOT_EVERY_MS = 2000;

/** One matcher thread and what the supervisor knows of it. */
interface MatcherThread {
  readonly worker: Worker;
  readonly channel: Channel;
  ready: boolean;
  /** Its last metrics snapshot. */
  last?: MetricsSnapshot;
}

type Reply = Message & { summary?: LibrarySummary; error?: WireError; json?: MetricsSnapshot };

/** Starts a matcher thread; `ready` resolves with its library summary or rejects with its load error. */
function openMatcherThread(data: MatcherThreadData, logger: Logger, emit: Emit) {
  const worker = spawnThread(siblingModule(import.meta.url, 'matcher-thread'), { workerData: data });
  const channel = createChannel(worker);
  const thread: MatcherThread = { worker, channel, ready: false };
  channel.on('log', (m: LogRecord) => replayLog(logger, 'matcher', m));
  worker.on('error', (err) => emit('matcher_thread_failed', { err }));
  worker.on('exit', () => channel.abandon());
  const ready = firstMessage(worker, channel, ['ready', 'failed']).then((m: Reply) => {
    if (m.t === 'failed') throw fromWireError(m.error!, 'PTIM_ERR_PATTERN');
    thread.ready = true;
    return m.summary!;
  });
  return { thread, ready };
}

async function snapshotOf(t: MatcherThread | undefined, timeoutMs: number): Promise<MetricsSnapshot | undefined> {
  if (!t?.ready) return t?.last;
  const reply = await t.channel.request<Reply>({ t: 'metrics' }, timeoutMs);
  if (reply?.json) t.last = reply.json;
  return t.last;
}

/** What the pending batches need of a matcher thread. */
type Recipient = Pick<MatcherThread, 'channel' | 'ready'>;

/**
 * Batches handed to the matcher and not answered yet, with the lines to skip when sent again.
 * Batches that arrive in one event-loop turn go to the matcher in one message at the end of the
 * turn (`schedule`): each postMessage has a fixed cost for the sender (setting up the clone, waking
 * the receiving thread), and a busy main thread receives many batches per turn. Their buffers are
 * shared, so nothing is copied.
 */
export function createPendingBatches(schedule: (send: () => void) => void = (send) => setImmediate(send)) {
  const pending = new Map<number, { batch: WireBatch; skip: number[] }>();
  // Seqs added this turn and the thread they are for.
  let outbox: number[] = [];
  let outTo: Recipient | undefined;
  const post = (to: Recipient, seqs: Iterable<number>) => {
    const list: BatchOrder[] = [];
    for (const seq of seqs) {
      const e = pending.get(seq);
      if (e) list.push({ batch: e.batch, ...(e.skip.length ? { skip: e.skip } : {}) });
    }
    if (list.length > 0) to.channel.post({ t: 'batches', list } as Message);
  };
  const send = () => {
    const [to, seqs] = [outTo, outbox];
    [outTo, outbox] = [undefined, []];
    if (to) post(to, seqs);
  };
  const sendLater = oncePerTurn(schedule, send);
  return {
    add(batch: WireBatch, to: Recipient | undefined) {
      pending.set(batch.seq, { batch, skip: [] });
      if (!to?.ready) return;
      // Another thread: the one this turn's batches were for has ended (it gets them as before).
      if (outTo !== undefined && outTo !== to) send();
      outTo = to;
      outbox.push(batch.seq);
      sendLater();
    },
    /** The answered batch, no longer pending. */
    take(seq: number): WireBatch | undefined {
      const e = pending.get(seq);
      pending.delete(seq);
      return e?.batch;
    },
    /** Marks a line to skip from now on; returns its bytes. */
    abandon(seq: number, line: number): Buffer | undefined {
      const e = pending.get(seq);
      e?.skip.push(line);
      return e ? unpackBatch(e.batch)[line]?.bytes : undefined;
    },
    /** Every unanswered batch, in order, to a new thread (what was waiting for the turn's end included). */
    sendAll(to: Recipient) {
      [outTo, outbox] = [undefined, []];
      post(to, pending.keys());
    },
  };
}

async function reloadIn(t: MatcherThread | undefined, library: LibrarySpec): Promise<LibrarySummary> {
  const reply = t?.ready ? await t.channel.request<Reply>({ t: 'reload', library } as Message, RELOAD_MS) : undefined;
  if (!reply) throw fromWireError({ message: 'the matcher thread is restarting; reload again' }, 'PTIM_ERR_PATTERN');
  if (reply.error) throw fromWireError(reply.error, 'PTIM_ERR_PATTERN');
  return reply.summary!;
}

/** What the supervisor's parts share: the thread now running and what is known of it. */
interface SupervisorState {
  readonly heartbeat: ReturnType<typeof createHeartbeat>;
  readonly inflight: ReturnType<typeof createPendingBatches>;
  readonly book: ReturnType<typeof createQuarantineBook>;
  /** Counters of ended threads (they stay in /metrics as of their last report). */
  readonly retired: MetricsSnapshot[];
  /** Patterns refused by their background safety proof: skipped like quarantined ones, not stored as such. */
  readonly dropped: Set<string>;
  current: MatcherThread | undefined;
  /** The library a (re)started thread runs: the last one installed. */
  library: LibrarySpec | undefined;
  summary: LibrarySummary | undefined;
  closed: boolean;
}

/** Starts matcher threads, restarts one that exits, and ends one that runs away on a line. */
function createMatcherLifecycle(deps: MatcherDeps, s: SupervisorState) {
  const { logger, metrics, emit } = deps;

  async function spawn(): Promise<LibrarySummary> {
    const skip = [...s.book.keys(), ...s.dropped];
    const data = { ...deps.data, library: s.library!, heartbeat: s.heartbeat.buffer, quarantined: skip };
    const { thread, ready } = openMatcherThread(data, logger, emit);
    s.current = thread;
    thread.channel.on('done', (m: Message & { seq: number; events: VpnEvent[] }) => {
      if (s.current !== thread) return;
      const batch = s.inflight.take(m.seq);
      if (batch) deps.onDone(batch, m.events);
    });
    thread.worker.on('exit', (code) => {
      if (s.current !== thread || s.closed) return;
      emit('matcher_thread_exited', { code });
      void restart(thread);
    });
    s.summary = await ready;
    s.inflight.sendAll(thread);
    return s.summary;
  }

  async function restart(old: MatcherThread): Promise<void> {
    // Counters of the ended thread stay in /metrics as of its last report; its gauges do not.
    if (old.last) s.retired.push(old.last.filter((m) => String(m.type) === 'counter'));
    s.heartbeat.end();
    metrics.matcherRestarts.inc();
    for (let attempt = 1; !s.closed; attempt++) {
      try {
        await spawn();
        return;
      } catch (e) {
        emit('matcher_start_failed', { err: e, attempt });
        await new Promise((res) => setTimeout(res, Math.min(30_000, 1000 * attempt)).unref());
      }
    }
  }

  function onRunaway(state: HeartbeatState): void {
    const t = s.current;
    if (!t?.ready || s.closed) return;
    s.current = undefined;
    const line = s.inflight.abandon(state.seq, state.line);
    metrics.matchTimeouts.inc();
    const pattern = s.summary?.patterns[state.pattern];
    if (pattern) s.book.record(pattern, line);
    void t.worker.terminate().then(() => restart(t));
  }

  return { spawn, onRunaway };
}

/** The watchdog's and the snapshot's timers of a started supervisor. */
function startTimers(deps: MatcherDeps, s: SupervisorState, onRunaway: (state: HeartbeatState) => void): NodeJS.Timeout[] {
  const watchdog = createWatchdog({ timeoutMs: deps.matchTimeoutMs, read: s.heartbeat.read, now: deps.monotonicNow, onRunaway });
  const timers = [
    setInterval(() => watchdog.tick(), Math.max(5, Math.floor(deps.matchTimeoutMs / 5))),
    setInterval(() => void snapshotOf(s.current, SNAPSHOT_EVERY_MS), SNAPSHOT_EVERY_MS),
  ];
  for (const t of timers) t.unref();
  return timers;
}

export function createMatcherSupervisor(deps: MatcherDeps): MatcherSupervisor {
  const s: SupervisorState = {
    heartbeat: createHeartbeat(),
    inflight: createPendingBatches(),
    book: createQuarantineBook(deps),
    retired: [],
    dropped: new Set<string>(),
    current: undefined,
    library: undefined,
    summary: undefined,
    closed: false,
  };
  const lifecycle = createMatcherLifecycle(deps, s);
  let timers: NodeJS.Timeout[] = [];
  return {
    async start(library) {
      s.library = library;
      const summary = await lifecycle.spawn();
      timers = startTimers(deps, s, lifecycle.onRunaway);
      return summary;
    },
    submit: (batch) => s.inflight.add(batch, s.current),
    async reload(library) {
      s.summary = await reloadIn(s.current, library);
      s.library = library;
      return s.summary;
    },
    async restore() {
      // Without the stored records the bridge still runs; a pattern may then run away once more.
      const fresh = await s.book.restore().catch((err: unknown) => {
        deps.emit('quarantine_read_failed', { err });
        return [] as string[];
      });
      if (fresh.length > 0) s.current?.channel.post({ t: 'quarantine', keys: fresh } as Message);
    },
    drop(keys) {
      for (const k of keys) s.dropped.add(k);
      if (keys.length > 0) s.current?.channel.post({ t: 'quarantine', keys: [...keys] } as Message);
    },
    ready: () => s.current?.ready === true,
    quarantined: () => s.book.entries(),
    async snapshots(timeoutMs) {
      const snap = await snapshotOf(s.current, timeoutMs);
      return [...s.retired, ...(snap ? [snap] : [])];
    },
    async close() {
      s.closed = true;
      for (const t of timers) clearInterval(t);
      const t = s.current;
      s.current = undefined;
      await t?.worker.terminate();
    },
  };
}
