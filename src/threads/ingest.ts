// The threaded ingest: a receive thread (sockets, framing, prefilter) and a matcher thread
// (parse → match → normalize), joined by the main thread, which relays candidate batches, keeps
// them until they are matched, and hands each VPN event to the session engine. What runs where,
// and the crash window this leaves, are described in the README ("Threading model").
import { historySettings, type Config } from '../config/schema.js';
import { PtimError } from '../errors.js';
import type { ListenerAddress } from '../ingest/receiver.js';
import type { IngestDeps } from '../ingest/receivers.js';
import type { Logger } from '../log.js';
import { createEvents } from '../events.js';
import type { Metrics } from '../ops/metrics.js';
import type { LibrarySpec } from '../match/runnable.js';
import type { ReadinessCheck } from '../ops/server.js';
import type { WireBatch } from './handoff.js';
import { systemClock, type Clock, type VpnEvent } from '../types.js';
import { applyHeapGrowth } from './heap.js';
import { createMatcherSupervisor, type MatcherSupervisor } from './matcher.js';
import type { MetricsSnapshot } from './metrics.js';
import type { QuarantineStore } from './quarantine.js';
import { openReceiveThread, type ReceiveThread } from './receive.js';
import type { LibrarySummary } from './watched-library.js';

export interface ThreadedIngestDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly monotonicNow: () => number;
  /** Hands events to the session engine; resolves once they are applied (or dropped and counted). */
  readonly deliver: (events: readonly VpnEvent[]) => Promise<void>;
  /** Events handed to `deliver` and not yet applied, at most (the rest wait in the hand-off). */
  readonly deliverWindow: number;
  readonly store?: QuarantineStore;
  readonly timing?: IngestDeps['timing'];
  /** The pattern library the matcher thread starts with, as the main thread loaded it. */
  readonly library: LibrarySpec;
  /** Test-only: module that rewrites the matcher's library (see MatcherThreadData). */
  readonly libraryHook?: string;
}

export interface ThreadedIngest {
  start(): Promise<void>;
  /** Stops receiving, then waits (bounded) until what was received is matched. */
  stop(): Promise<void>;
  /** Resolves once every line received so far is matched and its events handed on. */
  drain(): Promise<void>;
  /** Installs a library the main thread loaded (and checked) in the matcher thread. */
  reload(library: LibrarySpec): Promise<LibrarySummary>;
  setLiterals(literals: readonly string[]): void;
  /** The matcher skips these patterns (patternKey) from now on: refused by their background proof. */
  dropPatterns(keys: readonly string[]): void;
  addresses(): ListenerAddress[];
  checks(): ReadinessCheck[];
  snapshots(): Promise<MetricsSnapshot[]>;
  close(): Promise<void>;
}

const STOP_DRAIN_MS = 5000;
const SNAPSHOT_MS = 1000;

/**
 * Lines are stamped in the receive thread with the real time. The session engine's windows run
 * on the injected clock, so a line's time is that clock's now minus the line's real age: the
 * same instant under the system clock, and the right place on a test's manual timeline. Never
 * earlier than the line mapped before it: lines keep their receive order (a line received before
 * its IP's last applied one is refused), even while a manual clock stands still.
 */
export function toClock(clock: Clock, real: Clock = systemClock): (e: VpnEvent) => VpnEvent {
  if (clock === real) return (e) => e;
  let last = -Infinity;
  return (e) => {
    last = Math.max(last, clock.now() - Math.max(0, real.now() - e.receivedAt));
    return { ...e, receivedAt: last };
  };
}

/** A batch once matched: which one, and how many lines to acknowledge. */
export interface BatchId {
  readonly seq: number;
  readonly lines: number;
}

/**
 * A FIFO that starts its items in order while fewer than `limit` units are in progress (one item
 * always starts when none is, however large). `done(n)` gives n units back. The two gates below
 * are this: lines ahead of the engine, and events in it.
 */
export function createPacedQueue<T>(limit: number, units: (item: T) => number, start: (item: T) => void) {
  const waiting: T[] = [];
  let inProgress = 0;
  const pump = () => {
    while (waiting.length > 0 && (inProgress === 0 || inProgress + units(waiting[0]!) <= limit)) {
      const item = waiting.shift()!;
      inProgress += units(item);
      start(item);
    }
  };
  return {
    push(item: T) {
      waiting.push(item);
      pump();
    },
    done(n: number) {
      inProgress -= n;
      pump();
    },
  };
}

/**
 * Matched batches on their way to the session engine, in order. At most `window` events are in the
 * engine unapplied: a storm waits here and in the hand-off (whose bound, ingest.handoffMaxLines,
 * covers a line until its events are applied, because the receive thread is acknowledged only
 * then) instead of overflowing the engine's memory buffer, which stays for Redis outages.
 */
export function createDeliveryGate(
  deliver: (events: readonly VpnEvent[]) => Promise<void>,
  window: number,
  onApplied: (batch: BatchId) => void,
  onHanded: (batch: BatchId) => void = () => {},
) {
  let handed = 0;
  // Only the batch's seq and line count wait here: the lines' bytes are not needed once matched.
  const queue = createPacedQueue<{ batch: BatchId; events: readonly VpnEvent[] }>(
    window,
    (b) => b.events.length,
    ({ batch, events }) => {
      handed = batch.seq;
      onHanded(batch);
      void deliver(events).then(() => {
        onApplied(batch);
        queue.done(events.length);
      });
    },
  );
  return {
    push(batch: WireBatch, events: readonly VpnEvent[]) {
      queue.push({ batch: { seq: batch.seq, lines: batch.count }, events });
    },
    /** Seq of the last batch handed to the engine. */
    handed: () => handed,
  };
}

/**
 * Candidate lines go to the matcher only while fewer than `maxAhead` lines are matched or being
 * matched and not yet handed to the engine. In a storm the backlog then waits as raw batches (the
 * line bytes, outside the JavaScript heap) rather than as matched events (objects the main thread's
 * collector walks again and again until the engine takes them): less memory, less GC, the same
 * order. The matcher outpaces the engine, so it is never the one waiting.
 */
export function createMatchGate(submit: (batch: WireBatch) => void, maxAhead: number) {
  const queue = createPacedQueue<WireBatch>(maxAhead, (b) => b.count, submit);
  return {
    offer: (batch: WireBatch) => queue.push(batch),
    /** A batch's events went to the engine: its lines no longer count as ahead. */
    handed: (batch: BatchId) => queue.done(batch.lines),
  };
}

/** Lines matched or in the matcher ahead of the engine, at most (about four full batches). */
export const MATCH_AHEAD_LINES = 1024;

export async function createThreadedIngest(config: Config, deps: ThreadedIngestDeps): Promise<ThreadedIngest> {
  const { logger } = deps;
  applyHeapGrowth();
  const mapTime = toClock(deps.clock);
  const emit = createEvents({ metrics: deps.metrics, logger, now: () => deps.clock.now() });
  // Acks go to the receive thread once it exists (the matcher starts alongside it).
  const link: { recv?: ReceiveThread } = {};
  const waiters: { seq: number; resolve: () => void }[] = [];
  const settle = () => {
    const handed = gate.handed();
    for (let i = waiters.length - 1; i >= 0; i--) if (handed >= waiters[i]!.seq) waiters.splice(i, 1)[0]!.resolve();
  };
  const gate = createDeliveryGate(
    deps.deliver,
    deps.deliverWindow,
    (batch) => link.recv?.ack(batch.lines),
    (batch) => ahead.handed(batch),
  );
  const matcher: MatcherSupervisor = createMatcherSupervisor({
    data: {
      identity: config.identity,
      nearMissLogPerMinute: config.patterns.nearMissLogPerMinute,
      maxFieldBytes: config.patterns.maxFieldBytes,
      lineText: historySettings(config.ops.console).maxEntriesPerIp > 0,
      logLevel: logger.level,
      ...(deps.libraryHook ? { libraryHook: deps.libraryHook } : {}),
    },
    matchTimeoutMs: config.patterns.matchTimeoutMs,
    logger,
    emit,
    metrics: deps.metrics,
    clock: deps.clock,
    monotonicNow: deps.monotonicNow,
    ...(deps.store ? { store: deps.store } : {}),
    onDone(batch, events) {
      gate.push(batch, events.map(mapTime));
      settle();
    },
  });
  const ahead = createMatchGate((b) => matcher.submit(b), MATCH_AHEAD_LINES);
  const [m, r] = await Promise.allSettled([
    matcher.start(deps.library),
    openReceiveThread(
      {
        config: { ingest: config.ingest, firewalls: config.firewalls },
        literals: [],
        timing: deps.timing,
        logLevel: logger.level,
      },
      { logger, emit, onBatch: (b) => ahead.offer(b) },
    ),
  ]);
  if (m.status === 'rejected' || r.status === 'rejected') {
    await matcher.close();
    if (r.status === 'fulfilled') await r.value.terminate();
    const errors = [m, r].flatMap((x) => (x.status === 'rejected' ? [asPtim(x.reason)] : []));
    throw PtimError.combine(errors);
  }
  link.recv = r.value;
  r.value.setLiterals(m.value.literals);
  return assemble(r.value, matcher, waiters, gate.handed);
}

function asPtim(e: unknown): PtimError {
  return e instanceof PtimError ? e : new PtimError('PTIM_ERR_CONFIG', (e as Error)?.message ?? String(e));
}

function assemble(
  recv: ReceiveThread,
  matcher: MatcherSupervisor,
  waiters: { seq: number; resolve: () => void }[],
  handed: () => number,
): ThreadedIngest {
  /** Resolves once batch `seq` and every one before it are matched and handed to the engine. */
  const matched = (seq: number | undefined) =>
    new Promise<void>((resolve) => {
      if (seq === undefined || handed() >= seq) resolve();
      else waiters.push({ seq, resolve });
    });
  let lastRecv: MetricsSnapshot | undefined;
  return {
    async start() {
      await matcher.restore();
      await recv.start();
    },
    async stop() {
      const seq = await recv.stop();
      const bounded = new Promise<void>((res) => setTimeout(res, STOP_DRAIN_MS).unref());
      await Promise.race([matched(seq), bounded]);
    },
    drain: async () => matched(await recv.flush()),
    reload: (library) => matcher.reload(library),
    setLiterals: (literals) => recv.setLiterals(literals),
    dropPatterns: (keys) => matcher.drop(keys),
    addresses: () => recv.addresses(),
    checks: () => checks(recv, matcher),
    async snapshots() {
      const [own, theirs] = await Promise.all([recv.snapshot(SNAPSHOT_MS), matcher.snapshots(SNAPSHOT_MS)]);
      lastRecv = own ?? lastRecv;
      return [...(lastRecv ? [lastRecv] : []), ...theirs];
    },
    async close() {
      await Promise.all([recv.terminate(), matcher.close()]);
      for (const w of waiters.splice(0)) w.resolve();
    },
  };
}

function checks(recv: ReceiveThread, matcher: MatcherSupervisor): ReadinessCheck[] {
  return [
    { name: 'syslog-listeners', required: true, check: () => ({ ok: recv.ready() }) },
    {
      name: 'matcher',
      required: true,
      check: () =>
        matcher.ready()
          ? { ok: true }
          : { ok: false, detail: 'matcher thread restarting: candidate lines wait in the hand-off queue' },
    },
    {
      name: 'pattern-quarantine',
      // A quarantined pattern is skipped, ingest goes on: reported, not a reason to leave service.
      required: false,
      check: () => {
        const q = matcher.quarantined();
        if (q.length === 0) return { ok: true };
        const list = q.map(
          (e) => `${e.patternId} (regex ${e.regexHash}, since ${e.at}, line ${e.lineBytes} bytes shaped ${e.lineShape})`,
        );
        return { ok: false, detail: `quarantined after running past patterns.matchTimeoutMs: ${list.join('; ')}` };
      },
    },
  ];
}
