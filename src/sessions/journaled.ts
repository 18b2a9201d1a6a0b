// The journal in front of the session engine: every VPN event gets a journal id and is written to
// the local journal (one write per batch) unless Redis applied it first, and the engine is fed in
// journal order with at most `windowItems` events in its memory, so a Redis outage longer than the
// memory buffer spills to disk instead of dropping. Applied events are acknowledged through the
// engine's own `drain()` (one outstanding at a time), so the engine needs no hook. On a restart the
// events after the last acknowledgement are replayed; Redis recognises any it had already applied
// by their journal id (script.ts), so a replay after a crash changes nothing twice.
import type { SessionsConfig } from '../config/schema.js';
import { PtimError } from '../errors.js';
import { createEvents, type Emit } from '../events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Clock, VpnEvent } from '../types.js';
import type { EngineFront } from './engine.js';
import { JournalStore, type StoredEvent } from './journal-store.js';

export type JournalFsync = 'always' | 'interval' | 'never';

export interface JournaledEngineOptions {
  readonly engine: EngineFront;
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

export interface JournaledEngine extends EngineFront {
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
  return new JournalFront(opts);
}

/**
 * The layer's state in three named parts: feeding the engine in journal order within its window
 * (`feed`, `pumpBacklog`), learning what Redis applied (`watchApplied`, `appliedUpTo`), and the
 * batched journal writes (`flush`, `schedule`).
 */
class JournalFront implements JournaledEngine {
  private readonly engine: EngineFront;
  private readonly store: JournalStore;
  private readonly window: number;
  private readonly checkpointStep: number;
  private readonly emit: Emit;
  /** Not yet written: the next batch. */
  private unwritten: Rec[] = [];
  /** The batch being written (still needed in memory until it is on disk). */
  private writingBatch: Rec[] = [];
  private writing: Promise<void> | undefined;
  /** Submitted to the engine, not yet known applied: id and how many items the engine holds for it. */
  private readonly inflight: { id: number; items: number }[] = [];
  private inflightItems = 0;
  private submitted: number;
  private acked: number;
  private lastId: number;
  /** Some known events are not yet submitted (the engine was full, or a replay is under way). */
  private backlog = false;
  /** Highest submission a `drain()` was started for, and how many are outstanding. */
  private drainTarget: number;
  private drainsOut = 0;
  private closed = false;
  private dropped = 0;
  private writeFailing = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private waiters: { target: number; resolve: () => void }[] = [];
  /** Id ranges feeding jumped over (see `feed`); a lost id in one of them was never applied. */
  private skipped: { from: number; to: number }[] = [];

  constructor(private readonly opts: JournaledEngineOptions) {
    this.engine = opts.engine;
    this.store = opts.store;
    this.window = Math.max(1, opts.windowItems);
    this.checkpointStep = Math.max(1, Math.floor(this.window / 4));
    this.emit = createEvents({ metrics: opts.metrics, logger: opts.logger, now: () => opts.clock.now() });
    this.submitted = this.acked = this.lastId = this.drainTarget = this.store.ackedThrough();
  }

  start(): void {
    const { store, logger } = this.opts;
    this.backlog = store.pending() > 0;
    this.lastId = Math.max(this.lastId, store.lastEventId()); // drain() waits for the replay too
    if (this.backlog) {
      logger.info({ events: store.pending(), bytes: store.bytes() }, 'session journal: replaying events Redis had not applied');
    }
    if (this.opts.fsync !== 'always') this.timer = setInterval(() => void this.flush(), this.opts.intervalMs).unref();
    this.gauges();
    this.pumpBacklog();
  }

  submit(event: VpnEvent, correlationId: string): void {
    const r: Rec = { id: this.store.allocate(), event, correlationId };
    this.lastId = r.id;
    this.unwritten.push(r);
    if (!this.backlog && !this.closed && this.inflightItems + event.ips.length <= this.window) this.feed(r);
    else this.backlog = true;
    this.watchApplied();
    if (this.opts.fsync === 'always') this.schedule();
  }

  /** Every event submitted so far is in the journal (or applied): the receive side may move on. */
  async accepted(): Promise<void> {
    for (let round = 0; round < 3; round++) {
      if (this.writing) await this.writing;
      if (!this.unwritten.some((r) => r.id > this.acked)) return;
      await this.flush();
      // The journal cannot take them: they are safe only once Redis has them, as without a journal.
      if (this.writeFailing) return this.drain();
    }
  }

  /** Everything submitted so far is applied, or dropped and counted (a write in flight may still report a loss). */
  async drain(): Promise<void> {
    const target = this.lastId;
    if (this.acked < target) await new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    while (this.writing) await this.writing;
  }

  ready(): boolean {
    return this.engine.ready();
  }

  status(): JournalStatus {
    if (this.writeFailing) return { ok: false, detail: 'journal writes failing: events held in memory only' };
    if (this.dropped > 0) return { ok: false, detail: `journal full: ${this.dropped} oldest event(s) dropped since start` };
    return { ok: true };
  }

  async closeJournal(): Promise<number> {
    this.closed = true;
    clearInterval(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    await this.writing;
    await this.flush(); // everything Redis has not applied, with the last ack
    await this.store.close();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    this.gauges();
    return this.store.pending();
  }

  async close(): Promise<void> {
    await this.closeJournal();
    await this.engine.close();
  }

  private gauges(): void {
    this.opts.metrics.journalBytes.set(this.store.bytes());
    this.opts.metrics.journalEvents.set(this.store.pending());
  }

  private feed(r: Rec): void {
    // Feeding goes in id order; ids jumped over were never fed (lost from disk before their turn,
    // or never allocated): remembered so that a loss reported later is still counted.
    if (r.id > this.submitted + 1) this.skipped.push({ from: this.submitted + 1, to: r.id - 1 });
    const items = r.event.ips.length;
    this.engine.submit({ ...r.event, journal: { instance: this.store.instance, id: r.id } }, r.correlationId);
    this.submitted = r.id;
    this.inflight.push({ id: r.id, items });
    this.inflightItems += items;
  }

  /** Next events after `submitted`, in id order: from disk, then the batch being written, then memory. */
  private nextBacklog(max: number): Rec[] {
    // Disk first, and only disk while it has more: a read may stop short of `max` (at a segment's
    // end), and topping it up from memory would skip the disk records between the two.
    const fromDisk = this.store.read(this.submitted, max).map(decode);
    if (fromDisk.length > 0) {
      this.opts.metrics.journalReplayed.inc(fromDisk.length);
      return fromDisk;
    }
    const out: Rec[] = [];
    for (const list of [this.writingBatch, this.unwritten]) {
      for (let i = firstAfter(list, this.submitted); i < list.length && out.length < max; i++) out.push(list[i]!);
    }
    return out;
  }

  private pumpBacklog(): void {
    while (this.backlog && !this.closed) {
      const room = this.window - this.inflightItems;
      if (room <= 0) break;
      // Each record holds at most two IPs (one per family): half the room never overfills the engine.
      const recs = this.nextBacklog(Math.max(1, Math.min(FEED_BATCH, Math.floor(room / 2))));
      if (recs.length === 0) {
        this.backlog = false;
        break;
      }
      for (const r of recs) this.feed(r);
      this.watchApplied();
    }
    this.watchApplied();
  }

  /**
   * Keeps `drain()`s outstanding at checkpoints a quarter window apart while anything submitted is
   * not known applied: acknowledgements (and room for more) come while the engine still has work,
   * so it never runs dry waiting for one drain of everything.
   */
  private watchApplied(): void {
    if (this.closed || this.submitted <= this.drainTarget) return;
    if (this.drainsOut > 0 && this.submitted - this.drainTarget < this.checkpointStep) return;
    const target = this.submitted;
    this.drainTarget = target;
    this.drainsOut++;
    void this.engine.drain().then(() => {
      this.drainsOut--;
      if (this.closed) return; // close() resolves drains for events it gave up on: they stay journaled
      this.appliedUpTo(target);
      this.pumpBacklog();
      this.watchApplied();
      if (this.opts.fsync === 'always') this.schedule();
    });
  }

  private appliedUpTo(through: number): void {
    this.acked = Math.max(this.acked, through);
    let n = 0;
    while (n < this.inflight.length && this.inflight[n]!.id <= through) this.inflightItems -= this.inflight[n++]!.items;
    this.inflight.splice(0, n);
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.acked >= w.target) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** One write: the events Redis has not applied yet, plus an ack when it moved. */
  private flush(): Promise<void> {
    if (this.writing) return this.writing;
    const batch = this.unwritten.filter((r) => r.id > this.acked);
    this.unwritten = [];
    const ack = this.acked > this.store.ackedThrough() && this.store.pending() > 0 ? this.acked : undefined;
    if (batch.length === 0 && ack === undefined) return Promise.resolve();
    this.writingBatch = batch;
    const events = batch.map((r) => ({ id: r.id, payload: encode(r) }));
    this.writing = this.store
      .append(events, ack)
      .then(
        (lost) => this.written(batch.length, lost),
        (e: unknown) => this.writeFailed(batch, e),
      )
      .finally(() => {
        this.writingBatch = [];
        this.writing = undefined;
        this.gauges();
      });
    return this.writing;
  }

  private written(events: number, lost: readonly number[]): void {
    this.writeFailing = false;
    this.opts.metrics.journalWritten.inc(events);
    // Events fed to the engine will still be applied; the others (not fed yet, or jumped over
    // because the loss came before their turn) are gone.
    const neverFed = (id: number) => id > this.submitted || this.skipped.some((g) => id >= g.from && id <= g.to);
    const gone = lost.filter(neverFed).length;
    // Ranges entirely below what the journal still holds can no longer be reported lost.
    const oldest = this.store.oldestEventId();
    this.skipped = this.skipped.filter((g) => g.to >= oldest);
    if (gone === 0) return;
    this.dropped += gone;
    this.emit('session_journal_full', { count: gone, dropped: gone, journalBytes: this.store.bytes() });
  }

  private writeFailed(batch: Rec[], e: unknown): void {
    this.writeFailing = true;
    this.unwritten = batch.concat(this.unwritten);
    this.emit('session_journal_write_failed', { err: e, events: batch.length });
  }

  /** `always`: one write per event-loop turn that received events. */
  private schedule(): void {
    if (this.immediate || this.closed) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      void this.flush().then(() => {
        if (this.unwritten.length > 0) this.schedule();
      });
    });
  }
}

/**
 * Opens `cfg.journalDir` (repairing torn tails: logged and counted, never fatal) and puts the
 * journal in front of `engine`. Call `start()` on the result once Redis is connected.
 */
export async function openJournaledEngine(
  engine: EngineFront,
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
  const emit = createEvents({ metrics: deps.metrics, logger: deps.logger, now: () => deps.clock.now() });
  for (const c of corruptions) {
    emit('session_journal_corrupt', { file: c.file, offset: c.offset, reason: c.reason, bytesCut: c.bytes });
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
