// The session engine adapter: takes VpnEvents from the receivers without ever blocking them,
// applies them to Redis in submission order, many inputs per session script call, and rides out a
// Redis outage with a bounded in-memory FIFO (counted drops, never silent).
//
// Parts: `eventInputs` (an event → one input per IP), `SubmissionBuffer` (the FIFO, the batch in
// hand and the "applied through submission n" mark), `applyBatch` (one script call and what each
// input's reply means), `RetryPause` (the backoff between failed calls) and the loop that ties them.
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/connection.js';
import { keyspace } from '../redis/keys.js';
import { NO_REPLICA_ACK, REPLY_TIMEOUT_MS, awaitReplicas, withReplyTimeout, type ReplicaAck } from '../redis/replication.js';
import { canonicalIp } from '../identity/ip.js';
import { createEvents, type Emit } from '../events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { ipKey } from '../redis/keys.js';
import type { VpnEvent } from '../types.js';
import type { SessionAdapterOptions } from './options.js';
import { Fifo } from './fifo.js';
import type { LineInput, SessionRules } from './model.js';
import { reportDecision } from './report.js';
import { defineSessionScript, runSessionCall, type InputReply } from './script.js';

export interface SessionEngineOptions extends SessionAdapterOptions {
  /** A client the engine may pipeline on. Fail-fast options (e.g. `maxRetriesPerRequest: 1`) make not-ready show sooner. */
  redis: RedisClient;
  /** First retry delay after a failed Redis call; doubles up to `retryMaxDelayMs`. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Most inputs applied by one script call. */
  batchSize?: number;
  /** Bound on how long `close()` waits for a call already sent. */
  closeTimeoutMs?: number;
  /** Replicas that must have a batch before it counts as applied (see redis/replication.ts). */
  replicaAck?: ReplicaAck;
  /** A call without a reply for this long is retried (default 10 s plus the replica wait). */
  replyTimeoutMs?: number;
}

export interface SessionEngine {
  /** Queues the event (one input per IP). Never throws, never waits. */
  submit(event: VpnEvent, correlationId: string): void;
  /** Resolves when everything submitted before this call has been applied (or dropped and counted). */
  drain(): Promise<void>;
  /** False while Redis is unreachable or the last call to it failed. */
  ready(): boolean;
  /** Stops retrying; whatever is still unapplied is counted as dropped. Call `drain()` first for a clean stop. */
  close(): Promise<void>;
}

/** What the ingest side needs of an engine: the engine itself, or the journal in front of it. */
export type EngineFront = Pick<SessionEngine, 'submit' | 'drain' | 'ready' | 'close'> & {
  /**
   * Resolves once everything submitted is held durably (a journal) — sooner than `drain()`, which
   * waits for Redis. Absent: only `drain()` says the events are safe.
   */
  accepted?(): Promise<void>;
};

interface Item {
  /** Submission number: the FIFO order, what `drain()` waits on and what the script's applied mark holds. */
  readonly n: number;
  readonly key: string;
  readonly input: LineInput;
}

/** One input per IP of the event (canonical IP text), and the IPs that are not IP addresses. */
export function eventInputs(event: VpnEvent, correlationId: string): { inputs: LineInput[]; badIps: string[] } {
  const inputs: LineInput[] = [];
  const badIps: string[] = [];
  for (const raw of event.ips) {
    const ip = canonicalIp(raw);
    if (ip === undefined) {
      badIps.push(raw);
      continue;
    }
    inputs.push({
      kind: event.kind,
      ip,
      user: event.user,
      domain: event.domain,
      firewall: event.firewall,
      vpn: event.vpn,
      gateway: event.gateway,
      peerIp: event.peerIp,
      tunnelId: event.tunnelId,
      receivedAt: event.receivedAt,
      correlationId,
      // The input's place among the event's IPs: a replay is recognised per input (script.ts).
      ...(event.journal ? { journal: { ...event.journal, part: inputs.length } } : {}),
    });
  }
  return { inputs, badIps };
}

/**
 * Submitted inputs not yet applied, in submission order: the FIFO and the batch in hand (sent,
 * or about to be re-sent, to Redis; it leaves only when applied). Keeps the bound, the drain
 * waiters and the applied-through mark. No I/O.
 */
export class SubmissionBuffer {
  private readonly fifo = new Fifo<Item>();
  private inHand: Item[] = [];
  private nextN: number;
  private waiters: { target: number; resolve: () => void }[] = [];

  constructor(
    private readonly maxItems: number,
    firstN: number,
    private readonly onDrop: (item: Item, why: string) => void,
  ) {
    this.nextN = firstN;
  }

  get depth(): number {
    return this.inHand.length + this.fifo.length;
  }
  get next(): number {
    return this.nextN;
  }
  /** The lowest submission number not yet applied (or dropped). */
  get appliedThrough(): number {
    return this.inHand[0]?.n ?? this.fifo.peek()?.n ?? this.nextN;
  }

  /** Numbers the input; returns the item to drop it (engine closed) or queues it. */
  number(key: string, input: LineInput): Item {
    return { n: this.nextN++, key, input };
  }

  // When the buffer is full the OLDEST unsent input goes: newer lines carry the current state of
  // an IP, and JIMS must end with the latest state (a lost old UP is repaired by the next rekey or
  // an orphan DOWN; a lost newest DOWN would leave a departed user mapped for a day).
  add(item: Item): void {
    if (this.depth >= this.maxItems) {
      const oldest = this.fifo.shift();
      if (oldest) this.onDrop(oldest, 'buffer full: dropped oldest');
      else return this.onDrop(item, 'buffer full');
    }
    this.fifo.push(item);
  }

  /** The batch in hand, refilled from the FIFO when empty. */
  batch(size: number): readonly Item[] {
    if (this.inHand.length === 0) this.inHand = this.fifo.take(size);
    return this.inHand;
  }

  /** The first `count` items of the batch in hand are applied. */
  applied(count: number): void {
    if (count > 0) this.inHand = this.inHand.slice(count);
  }

  /** Empties the buffer, returning what was in it (in order). */
  takeAll(): Item[] {
    const left = [...this.inHand, ...this.fifo.take(this.fifo.length)];
    this.inHand = [];
    this.fifo.clear();
    return left;
  }

  /** Resolves once every input numbered below `target` has left. */
  waitFor(target: number): Promise<void> {
    if (this.appliedThrough >= target) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // Kept in target order (callers wait for rising targets, so this is a push), so settle()
      // wakes from the front and stops at the first waiter still waiting.
      let at = this.waiters.length;
      while (at > 0 && this.waiters[at - 1]!.target > target) at--;
      this.waiters.splice(at, 0, { target, resolve });
    });
  }

  /** Wakes the waiters the mark has reached; `all` releases every waiter (close). */
  settle(all = false): void {
    if (this.waiters.length === 0) return;
    const low = this.appliedThrough;
    let woken = 0;
    while (woken < this.waiters.length && (all || low >= this.waiters[woken]!.target)) this.waiters[woken++]!.resolve();
    if (woken > 0) this.waiters.splice(0, woken);
  }
}

// Reply errors that say "not now" rather than "never": the call is retried like a lost connection.
const TRANSIENT_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|MOVED|ASK|NOREPLICAS|NOSCRIPT|OOM)\b/;

export function isTransient(err: Error): boolean {
  return err.name !== 'ReplyError' || TRANSIENT_REPLY.test(err.message);
}

/** How the engine reports inputs: operational events (counted, logged at a bounded rate). */
function engineReports(emit: Emit) {
  return {
    dropped(item: Item, why: string) {
      const { kind, ip, user, domain, correlationId } = item.input;
      emit('session_event_dropped', { why, kind, ip, user, domain, correlationId });
    },
    rejected(item: Item, err: unknown) {
      const { kind, ip, user, correlationId } = item.input;
      emit('session_script_rejected', { err, kind, ip, user, correlationId });
    },
    badIp(raw: string, correlationId: string) {
      emit('session_not_an_ip', { ip: raw, correlationId });
    },
  };
}
type EngineReports = ReturnType<typeof engineReports>;

/**
 * Applies a batch with one script call. Returns how many of its items (from the front) are done
 * (applied, skipped as already applied, or rejected and counted), and the error when the call
 * itself failed in a way worth retrying (then none are done: a re-send is safe, the script skips
 * what it already applied).
 */
export async function applyBatch(
  deps: {
    redis: RedisClient;
    keyPrefix: string;
    cfg: SessionRules;
    source: string;
    metrics: Metrics;
    logger: Logger;
    reports: EngineReports;
    replicaAck?: ReplicaAck;
    replyTimeoutMs?: number;
    activeSessions?: (active: number) => void;
  },
  batch: readonly Item[],
  now: number,
): Promise<{ done: number; failure?: unknown }> {
  let replies: InputReply[];
  try {
    const ack = deps.replicaAck ?? NO_REPLICA_ACK;
    const timeoutMs = deps.replyTimeoutMs ?? REPLY_TIMEOUT_MS + ack.timeoutMs;
    const call = runSessionCall(deps.redis, deps.keyPrefix, { source: deps.source, inputs: batch }, deps.cfg, now);
    replies = await withReplyTimeout(call, timeoutMs);
    // A batch the replicas did not get may vanish in a failover: not done; the re-send is skipped
    // where it did apply (the per-source applied mark) and applied where it was lost.
    await awaitReplicas(deps.redis, keyspace(deps.keyPrefix).outbox, ack, timeoutMs);
  } catch (e) {
    if (!(e instanceof Error) || isTransient(e)) return { done: 0, failure: e };
    // A reply error that will not heal for this call (a bug): every input is counted, none retried.
    for (const item of batch) deps.reports.rejected(item, e);
    return { done: batch.length };
  }
  batch.forEach((item, i) => {
    const r = replies[i] as InputReply;
    if (r.type === 'applied') reportDecision(deps.metrics, deps.logger, r.result, item.input, deps.activeSessions);
    else if (r.type === 'error') deps.reports.rejected(item, r.error);
  });
  return { done: batch.length };
}

/** The wait between failed calls: doubles from `baseMs` to `maxMs`; `wake()` cuts it short. */
export class RetryPause {
  private attempt = 0;
  private wakeUp: (() => void) | undefined;
  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {}
  reset(): void {
    this.attempt = 0;
  }
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      const delay = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt++);
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, delay);
      this.wakeUp = done;
    });
  }
  wake(): void {
    this.wakeUp?.();
  }
}

/** Whether the last call to Redis failed: each failed call is an event, the recovery is logged once. */
class RedisHealth {
  failing = false;
  constructor(
    private readonly logger: Logger,
    private readonly emit: Emit,
  ) {}
  failed(err: unknown, buffered: number): void {
    this.emit('session_redis_call_failed', { err, buffered });
    this.failing = true;
  }
  succeeded(buffered: number): void {
    if (this.failing) this.logger.info({ buffered }, 'redis reachable again: applying held session events');
    this.failing = false;
  }
}

/** The engine's loop: takes batches from the buffer and applies them until it is empty, pausing after failures. */
class EngineLoop {
  closed = false;
  /** Set when close() stopped waiting for the call in flight and counted its inputs as dropped. */
  abandoned = false;
  pumping: Promise<void> | undefined;
  readonly health: RedisHealth;
  readonly pause: RetryPause;

  constructor(
    private readonly deps: Parameters<typeof applyBatch>[0],
    private readonly buffer: SubmissionBuffer,
    private readonly opts: SessionEngineOptions,
    private readonly emit: Emit,
  ) {
    this.health = new RedisHealth(opts.logger, emit);
    this.pause = new RetryPause(opts.retryBaseDelayMs ?? 100, opts.retryMaxDelayMs ?? 5000);
  }

  settle(): void {
    this.opts.metrics.bufferDepth.set(this.buffer.depth);
    this.buffer.settle();
  }

  private async pump(): Promise<void> {
    const batchSize = this.opts.batchSize ?? 100;
    while (!this.closed && this.buffer.depth > 0) {
      const batch = this.buffer.batch(batchSize);
      const { done, failure } = await applyBatch(this.deps, batch, this.opts.clock.now());
      if (this.abandoned) return; // close() gave up on this batch and counted it
      this.buffer.applied(done);
      this.settle();
      if (failure === undefined) {
        this.health.succeeded(this.buffer.depth);
        this.pause.reset();
      } else {
        this.health.failed(failure, this.buffer.depth);
        if (!this.closed) await this.pause.wait();
      }
    }
  }

  kick(): void {
    if (this.pumping || this.closed) return;
    this.pumping = this.pump()
      .catch((err: unknown) => this.emit('session_engine_loop_failed', { err }))
      .finally(() => {
        this.pumping = undefined;
        if (!this.closed && this.buffer.depth > 0) this.kick();
      });
  }

  /** Stops the loop: waits up to `closeTimeoutMs` for the call in flight, then counts what is left as dropped. */
  async close(dropped: (item: Item, why: string) => void): Promise<void> {
    this.closed = true;
    this.pause.wake();
    if (this.pumping) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((r) => (timer = setTimeout(r, this.opts.closeTimeoutMs ?? 5000)));
      await Promise.race([this.pumping, timeout]);
      clearTimeout(timer);
    }
    this.abandoned = true;
    for (const item of this.buffer.takeAll()) dropped(item, 'engine closed before Redis applied it');
    this.opts.metrics.bufferDepth.set(0);
    this.buffer.settle(true);
  }
}

export function createSessionEngine(opts: SessionEngineOptions): SessionEngine {
  const { redis, cfg, metrics, logger, clock } = opts;
  const emit = createEvents({ metrics, logger, now: () => clock.now() });
  const reports = engineReports(emit);
  const deps = {
    redis,
    keyPrefix: opts.keyPrefix,
    cfg,
    source: randomUUID(),
    metrics,
    logger,
    reports,
    ...(opts.replicaAck ? { replicaAck: opts.replicaAck } : {}),
    ...(opts.replyTimeoutMs ? { replyTimeoutMs: opts.replyTimeoutMs } : {}),
    ...(opts.activeSessions ? { activeSessions: opts.activeSessions } : {}),
  };
  const buffer = new SubmissionBuffer(cfg.bufferMaxEvents, 0, reports.dropped);
  const loop = new EngineLoop(deps, buffer, opts, emit);
  defineSessionScript(redis);

  return {
    submit(event, correlationId) {
      try {
        const { inputs, badIps } = eventInputs(event, correlationId);
        for (const raw of badIps) reports.badIp(raw, correlationId);
        for (const input of inputs) {
          const item = buffer.number(ipKey(input.ip, cfg.ipScope), input);
          if (loop.closed) reports.dropped(item, 'engine closed');
          else buffer.add(item);
        }
        loop.settle();
        loop.kick();
      } catch (err) {
        emit('session_submit_failed', { err, correlationId });
      }
    },
    drain: () => buffer.waitFor(buffer.next),
    ready: () => !loop.closed && !loop.health.failing && redis.status === 'ready',
    async close() {
      if (!loop.closed) await loop.close(reports.dropped);
    },
  };
}
