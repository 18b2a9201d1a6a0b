// The journal in front of the session engine: every VPN event gets a journal id and is written to
// the local journal (one write per batch) unless Redis applied it first, and the engine is fed in
// journal order with at most `windowItems` events in its memory, so a Redis outage longer than the
// memory buffer spills to disk instead of dropping. Applied events are acknowledged through the
// engine's own `drain()` (one outstanding at a time), so the engine needs no hook. On a restart the
// events after the last acknowledgement are replayed; Redis recognises any it had already applied
// by their journal id (script.ts), so a replay after a crash changes nothing twice.
import type { SessionsConfig } from '../config/schema.js';
import { PtimError } from '../errors.js';
import { rateLimiter, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock, VpnEvent } from '../types.js';
import type { SessionEngine } from './engine.js';
import { JournalStore, type StoredEvent } from './journal-store.js';

export type JournalFsync = 'always' | 'interval' | 'never';

export interface JournaledEngineOptions {
  readonly engine: SessionEngine;
  readonly store: JournalStore;
  /** Event×IP items the engine may hold at once (its `bufferMaxEvents`, so it never drops for room). */
  readonly windowItems: number;
  /** `always`: write each event-loop turn's events at once; otherwise every `intervalMs`. */
  readonly fsync: JournalFsync;
  readonly intervalMs: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
}

export interface JournalStatus {
  readonly ok: boolean;
  readonly detail?: string;
}

export interface JournaledEngine extends SessionEngine {
  /** Replays what an earlier run left in the journal (call once Redis is connected). */
  start(): void;
  /** For readiness: not ok while the journal drops its oldest events or cannot write. */
  status(): JournalStatus;
  /** Writes what Redis has not applied, stops; resolves with how many events stay for the next start. */
  closeJournal(): Promise<number>;
}

interface Rec {
  readonly id: number;
  readonly event: VpnEvent;
  readonly correlationId: string;
}

interface Payload {
  readonly e: VpnEvent;
  readonly c: string;
}

/** Records fed to the engine per read of the journal. */
const FEED_BATCH = 128;

/** Index of the first record with an id above `id` (lists are in id order): no rescans while a backlog drains. */
function firstAfter(list: readonly Rec[], id: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.id <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const encode = (r: Rec): Buffer => Buffer.from(JSON.stringify({ e: r.event, c: r.correlationId } satisfies Payload));

function decode(s: StoredEvent): Rec {
  const p = JSON.parse(s.payload.toString('utf8')) as Payload;
  return { id: s.id, event: p.e, correlationId: p.c };
}

export function createJournaledEngine(opts: JournaledEngineOptions): JournaledEngine {
  const { engine, store, metrics, logger } = opts;
  const window = Math.max(1, opts.windowItems);
  const errorLog = rateLimiter(6, () => opts.clock.now());

  /** Not yet written: the next batch. */
  let unwritten: Rec[] = [];
  /** The batch being written (still needed in memory until it is on disk). */
  let writingBatch: Rec[] = [];
  let writing: Promise<void> | undefined;
  /** Submitted to the engine, not yet known applied: id and how many items the engine holds for it. */
  const inflight: { id: number; items: number }[] = [];
  let inflightItems = 0;
  let submitted = store.ackedThrough();
  let acked = submitted;
  let lastId = submitted;
  /** Some known events are not yet submitted (the engine was full, or a replay is under way). */
  let backlog = false;
  /** Highest submission a `drain()` was started for, and how many are outstanding. */
  let drainTarget = submitted;
  let drainsOut = 0;
  const checkpointStep = Math.max(1, Math.floor(window / 4));
  let closed = false;
  let dropped = 0;
  let writeFailing = false;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let waiters: { target: number; resolve: () => void }[] = [];

  const gauges = () => {
    metrics.journalBytes.set(store.bytes());
    metrics.journalEvents.set(store.pending());
  };

  const feed = (r: Rec) => {
    const items = r.event.ips.length;
    engine.submit({ ...r.event, journal: { instance: store.instance, id: r.id } }, r.correlationId);
    submitted = r.id;
    inflight.push({ id: r.id, items });
    inflightItems += items;
  };

  const settleWaiters = () => {
    if (waiters.length === 0) return;
    const still: typeof waiters = [];
    for (const w of waiters) {
      if (acked >= w.target) w.resolve();
      else still.push(w);
    }
    waiters = still;
  };

  const onApplied = (through: number) => {
    acked = Math.max(acked, through);
    let n = 0;
    while (n < inflight.length && inflight[n]!.id <= through) inflightItems -= inflight[n++]!.items;
    inflight.splice(0, n);
    settleWaiters();
  };

  /**
   * Keeps `drain()`s outstanding at checkpoints a quarter window apart while anything submitted is
   * not known applied: acknowledgements (and room for more) come while the engine still has work,
   * so it never runs dry waiting for one drain of everything.
   */
  const watchApplied = () => {
    if (closed || submitted <= drainTarget) return;
    if (drainsOut > 0 && submitted - drainTarget < checkpointStep) return;
    const target = submitted;
    drainTarget = target;
    drainsOut++;
    void engine.drain().then(() => {
      drainsOut--;
      if (closed) return; // close() resolves drains for events it gave up on: they stay journaled
      onApplied(target);
      pumpBacklog();
      watchApplied();
      if (opts.fsync === 'always') schedule();
    });
  };

  /** Next events after `submitted`, in id order: from disk, then the batch being written, then memory. */
  const nextBacklog = (max: number): Rec[] => {
    const out = store.read(submitted, max).map(decode);
    if (out.length > 0) metrics.journalReplayed.inc(out.length);
    const after = out.at(-1)?.id ?? submitted;
    for (const list of [writingBatch, unwritten]) {
      for (let i = firstAfter(list, after); i < list.length && out.length < max; i++) out.push(list[i]!);
    }
    return out;
  };

  const pumpBacklog = () => {
    while (backlog && !closed) {
      const room = window - inflightItems;
      if (room <= 0) break;
      // Each record holds at most two IPs (one per family): half the room never overfills the engine.
      const recs = nextBacklog(Math.max(1, Math.min(FEED_BATCH, Math.floor(room / 2))));
      if (recs.length === 0) {
        backlog = false;
        break;
      }
      for (const r of recs) feed(r);
      watchApplied();
    }
    watchApplied();
  };

  const countLost = (ids: readonly number[]) => {
    // Events the engine already holds will still be applied; the others are gone.
    const lost = ids.filter((id) => id > submitted).length;
    if (lost === 0) return;
    dropped += lost;
    metrics.journalDropped.inc(lost);
    const gate = errorLog();
    if (gate.allowed) {
      logger.warn(
        { dropped: lost, journalBytes: store.bytes(), suppressedLogs: gate.suppressed },
        'session journal full: dropped the oldest events',
      );
    }
  };

  /** One write: the events Redis has not applied yet, plus an ack when it moved. */
  const flush = (): Promise<void> => {
    if (writing) return writing;
    const batch = unwritten.filter((r) => r.id > acked);
    unwritten = [];
    const ack = acked > store.ackedThrough() && store.pending() > 0 ? acked : undefined;
    if (batch.length === 0 && ack === undefined) return Promise.resolve();
    writingBatch = batch;
    writing = store
      .append(
        batch.map((r) => ({ id: r.id, payload: encode(r) })),
        ack,
      )
      .then(
        (lost) => {
          writeFailing = false;
          metrics.journalWritten.inc(batch.length);
          countLost(lost);
        },
        (e: unknown) => {
          writeFailing = true;
          metrics.journalWriteErrors.inc();
          unwritten = batch.concat(unwritten);
          const gate = errorLog();
          if (gate.allowed)
            logger.error({ err: e, events: batch.length, suppressedLogs: gate.suppressed }, 'session journal write failed');
        },
      )
      .finally(() => {
        writingBatch = [];
        writing = undefined;
        gauges();
      });
    return writing;
  };

  function schedule() {
    if (immediate || closed) return;
    immediate = setImmediate(() => {
      immediate = undefined;
      void flush().then(() => {
        if (unwritten.length > 0) schedule();
      });
    });
  }

  const closeJournal = async (): Promise<number> => {
    closed = true;
    clearInterval(timer);
    if (immediate) clearImmediate(immediate);
    immediate = undefined;
    await writing;
    await flush(); // everything Redis has not applied, with the last ack
    await store.close();
    for (const w of waiters) w.resolve();
    waiters = [];
    gauges();
    return store.pending();
  };

  return {
    start() {
      backlog = store.pending() > 0;
      lastId = Math.max(lastId, store.lastEventId()); // drain() waits for the replay too
      if (backlog)
        logger.info({ events: store.pending(), bytes: store.bytes() }, 'session journal: replaying events Redis had not applied');
      if (opts.fsync !== 'always') timer = setInterval(() => void flush(), opts.intervalMs).unref();
      gauges();
      pumpBacklog();
    },

    submit(event, correlationId) {
      const r: Rec = { id: store.allocate(), event, correlationId };
      lastId = r.id;
      unwritten.push(r);
      if (!backlog && !closed && inflightItems + event.ips.length <= window) feed(r);
      else backlog = true;
      watchApplied();
      if (opts.fsync === 'always') schedule();
    },

    drain() {
      const target = lastId;
      if (acked >= target) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push({ target, resolve }));
    },

    ready: () => engine.ready(),

    status() {
      if (writeFailing) return { ok: false, detail: 'journal writes failing: events held in memory only' };
      if (dropped > 0) return { ok: false, detail: `journal full: ${dropped} oldest event(s) dropped since start` };
      return { ok: true };
    },

    closeJournal,

    async close() {
      await closeJournal();
      await engine.close();
    },
  };
}

/**
 * Opens `cfg.journalDir` (repairing torn tails: logged and counted, never fatal) and puts the
 * journal in front of `engine`. Call `start()` on the result once Redis is connected.
 */
export async function openJournaledEngine(
  engine: SessionEngine,
  cfg: SessionsConfig,
  deps: Pick<JournaledEngineOptions, 'metrics' | 'logger' | 'clock'>,
): Promise<JournaledEngine> {
  const { store, corruptions } = await JournalStore.open({
    dir: cfg.journalDir,
    maxBytes: cfg.journalMaxBytes,
    fsync: cfg.journalFsync !== 'never',
  }).catch((e: unknown) => {
    throw new PtimError('PTIM_ERR_JOURNAL', `session journal ${cfg.journalDir}: ${(e as Error).message}`);
  });
  for (const c of corruptions) {
    deps.metrics.journalCorrupt.inc();
    deps.logger.warn(
      { file: c.file, offset: c.offset, reason: c.reason, bytesCut: c.bytes },
      'session journal: corrupt or torn tail skipped',
    );
  }
  return createJournaledEngine({
    engine,
    store,
    windowItems: cfg.bufferMaxEvents,
    fsync: cfg.journalFsync,
    intervalMs: cfg.journalWriteIntervalMs,
    ...deps,
  });
}
