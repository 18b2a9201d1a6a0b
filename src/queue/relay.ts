// Outbox relay: moves identity events from the Redis outbox stream into the BullMQ push queue,
// a batch at a time (one XREADGROUP, one addBulk, one XACK+XDEL per batch).
// A consumer group lets replicas share the stream and reclaim a crashed consumer's entries.
// Order of effects is add-job → XACK+XDEL, so a crash anywhere re-relays; the deterministic job
// id (`<ipKey>-<seq>`) makes a re-add a no-op and the workers' ordering guard makes a late
// re-add (after the job was removed) harmless.
//
// Parts: `parseOutboxEntry` and `entriesToJobs` (pure), `OutboxConsumer` (the stream commands of
// one consumer) and the loop in `createOutboxRelay`.
import { duplicateClient, type RedisClient } from '../redis/connection.js';
import type { QueueConfig } from '../config/schema.js';
import { createEvents, type Emit } from '../events.js';
import { silentLogger, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { keyspace } from '../redis/keys.js';
import { systemClock, type Clock, type IdentityEvent } from '../types.js';
import { BATCH_JOB, batchJobOptions, createPushQueue, pushJobOptions, type PushQueue } from './jobs.js';

export const RELAY_GROUP = 'relay';

export interface OutboxRelayOptions {
  /** A producer connection (fails fast); also carries the BullMQ queue's commands. */
  redis: RedisClient;
  /** `maxEventsPerJob` absent: one job per event. */
  queue: Pick<QueueConfig, 'relayBatchSize' | 'keepCompletedJobs'> & { maxEventsPerJob?: number };
  keyPrefix: string;
  metrics: Metrics;
  logger?: Logger;
  /** Unique and stable per process (e.g. hostname-pid): a restart re-reads its own pending entries. */
  consumerName: string;
  /** How long XREADGROUP blocks waiting for new entries. */
  blockMs?: number;
  /** Entries pending longer than this at another consumer are taken over (it probably crashed). */
  claimIdleMs?: number;
  /** Pause after a Redis error before the loop tries again. */
  errorBackoffMs?: number;
  clock?: Clock;
}

export interface OutboxRelay {
  start(): Promise<void>;
  /** Finishes the batch in hand, then stops; entries read but not yet added stay pending (reclaimed later). */
  stop(): Promise<void>;
  /** One cycle without blocking (tests, CLI): reclaim, own pending, new entries. Returns entries relayed. */
  relayOnce(): Promise<number>;
  readonly pushQueue: PushQueue;
}

type StreamEntry = [id: string, fields: string[]];

const KINDS = new Set(['connect', 'rekey', 'disconnect']);

/** Validates an outbox entry; undefined when it cannot become a job. */
export function parseOutboxEntry(fields: readonly string[]): { ipKey: string; event: IdentityEvent } | undefined {
  let ipKey: string | undefined;
  let raw: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'ipKey') ipKey = fields[i + 1];
    else if (fields[i] === 'event') raw = fields[i + 1];
  }
  if (!ipKey || raw === undefined) return undefined;
  let ev: unknown;
  try {
    ev = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof ev !== 'object' || ev === null) return undefined;
  const e = ev as Record<string, unknown>;
  const ok =
    typeof e.kind === 'string' &&
    KINDS.has(e.kind) &&
    typeof e.ip === 'string' &&
    typeof e.user === 'string' &&
    Number.isSafeInteger(e.seq) &&
    (e.seq as number) > 0 &&
    typeof e.at === 'number' &&
    typeof e.receivedAt === 'number';
  return ok ? { ipKey, event: ev as IdentityEvent } : undefined;
}

type PushJob = Parameters<PushQueue['addBulk']>[0][number];

/**
 * The jobs a batch of entries becomes, and the entries that cannot become one. With
 * `maxEventsPerJob` above 1 the valid events go into batch jobs of up to that many (in stream
 * order), named after their first entry; otherwise each event is its own job `<ipKey>-<seq>`.
 */
export function entriesToJobs(
  entries: readonly StreamEntry[],
  queue: Pick<QueueConfig, 'keepCompletedJobs'> & { maxEventsPerJob?: number },
): { jobs: PushJob[]; invalid: StreamEntry[] } {
  const perJob = queue.maxEventsPerJob ?? 1;
  const jobs: PushJob[] = [];
  const invalid: StreamEntry[] = [];
  let batch: { firstId: string; events: { ipKey: string; event: IdentityEvent }[] } | undefined;
  const closeBatch = () => {
    if (!batch) return;
    const opts = batchJobOptions(queue, batch.firstId, batch.events.length);
    jobs.push({ name: BATCH_JOB, data: { events: batch.events }, opts });
    batch = undefined;
  };
  for (const entry of entries) {
    const parsed = parseOutboxEntry(entry[1]);
    if (!parsed) invalid.push(entry);
    else if (perJob <= 1)
      jobs.push({ name: parsed.event.kind, data: parsed.event, opts: pushJobOptions(queue, parsed.ipKey, parsed.event.seq) });
    else {
      batch ??= { firstId: entry[0], events: [] };
      batch.events.push(parsed);
      if (batch.events.length >= perJob) closeBatch();
    }
  }
  closeBatch();
  return { jobs, invalid };
}

/** The stream commands of one consumer of the relay group. */
export class OutboxConsumer {
  private groupReady = false;
  private claimCursor = '0-0';

  constructor(
    private readonly redis: RedisClient,
    private readonly stream: string,
    private readonly consumerName: string,
    private readonly batch: number,
  ) {}

  async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    try {
      // From id 0: entries written before the first relay ever started must be relayed too.
      await this.redis.xgroup('CREATE', this.stream, RELAY_GROUP, '0', 'MKSTREAM');
    } catch (e) {
      if (!String((e as Error).message).includes('BUSYGROUP')) throw e;
    }
    this.groupReady = true;
  }

  /** Our own pending entries ('0') or new ones ('>'), blocking up to `blockMs` when given. */
  async read(conn: RedisClient, id: '0' | '>', blockMs?: number): Promise<StreamEntry[]> {
    const args: (string | number)[] = ['GROUP', RELAY_GROUP, this.consumerName, 'COUNT', this.batch];
    if (blockMs !== undefined) args.push('BLOCK', blockMs);
    args.push('STREAMS', this.stream, id);
    const reply = (await (conn.xreadgroup as (...a: (string | number)[]) => Promise<unknown>)(...args)) as
      [string, StreamEntry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  /** Entries of consumers that died mid-batch (pending longer than `idleMs`); XAUTOCLAIM hands them to us. */
  async reclaim(idleMs: number): Promise<StreamEntry[]> {
    const reply = (await this.redis.xautoclaim(
      this.stream,
      RELAY_GROUP,
      this.consumerName,
      idleMs,
      this.claimCursor,
      'COUNT',
      this.batch,
    )) as [string, (StreamEntry | null)[], string[]?];
    this.claimCursor = reply[0];
    return reply[1].filter((e): e is StreamEntry => Array.isArray(e));
  }

  /** Acknowledges and deletes entries in one round trip. */
  async ack(ids: readonly string[]): Promise<void> {
    await this.redis
      .multi()
      .xack(this.stream, RELAY_GROUP, ...ids)
      .xdel(this.stream, ...ids)
      .exec();
  }
}

interface MoverDeps {
  consumer: OutboxConsumer;
  pushQueue: PushQueue;
  queue: Pick<QueueConfig, 'keepCompletedJobs'> & { maxEventsPerJob?: number };
  metrics: Metrics;
  logger: Logger;
  emit: Emit;
  clock: Clock;
  claimIdleMs: number;
}

/** Moves entries into jobs: new ones, our own pending ones (after a restart or a lost reply), and dead consumers'. */
class OutboxMover {
  /** False until our own pending entries were re-read (at start, after an error or a reconnect). */
  ownPendingDone = false;
  lastClaimAt = 0;

  constructor(private readonly deps: MoverDeps) {}

  /** One addBulk for the batch's jobs, then one XACK+XDEL for all its entries. */
  async relayEntries(entries: readonly StreamEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const { metrics, logger } = this.deps;
    const { jobs, invalid } = entriesToJobs(entries, this.deps.queue);
    // The entry can never become a job; keeping it would make it be reclaimed forever.
    for (const [id, fields] of invalid) this.deps.emit('outbox_invalid_entry', { entryId: id, fields });
    if (jobs.length > 0) await this.deps.pushQueue.addBulk(jobs);
    await this.deps.consumer.ack(entries.map(([id]) => id));
    const relayed = entries.length - invalid.length;
    metrics.relayed.inc(relayed);
    if (relayed > 0) logger.debug({ count: relayed, jobs: jobs.length }, 'relayed outbox entries');
    return relayed;
  }

  async reclaim(): Promise<number> {
    const entries = await this.deps.consumer.reclaim(this.deps.claimIdleMs);
    this.lastClaimAt = this.deps.clock.now();
    if (entries.length > 0) this.deps.emit('outbox_reclaimed', { entries: entries.length });
    return this.relayEntries(entries);
  }

  /** A live relay holds entries pending for milliseconds; look for dead consumers' entries twice per claimIdleMs. */
  reclaimDue(): boolean {
    return this.deps.clock.now() - this.lastClaimAt >= this.deps.claimIdleMs / 2;
  }

  /** One cycle without blocking: own pending, dead consumers', new entries. */
  async once(conn: RedisClient): Promise<number> {
    await this.deps.consumer.ensureGroup();
    let n = 0;
    if (!this.ownPendingDone) n += await this.ownPending(conn);
    n += await this.reclaim();
    n += await this.relayEntries(await this.deps.consumer.read(conn, '>'));
    return n;
  }

  /** Our own pending entries (read before a restart, not yet acknowledged). */
  async ownPending(conn: RedisClient): Promise<number> {
    let total = 0;
    for (;;) {
      const entries = await this.deps.consumer.read(conn, '0');
      if (entries.length === 0) break;
      total += await this.relayEntries(entries);
    }
    this.ownPendingDone = true;
    return total;
  }
}

/**
 * XREADGROUP BLOCK holds its connection; it gets its own so other commands are not queued behind
 * it. ioredis resends a command whose reply was lost in a disconnect: an XREADGROUP that Redis had
 * already served then leaves its entries pending under our name, unseen, so `onReconnect` makes
 * the relay re-read them instead of waiting for the dead-consumer reclaim.
 */
function blockingConnection(redis: RedisClient, onReconnect: () => void): RedisClient {
  const conn = duplicateClient(redis, { maxRetriesPerRequest: null, enableOfflineQueue: true });
  conn.on('error', () => {});
  conn.on('reconnecting', onReconnect);
  return conn;
}

/**
 * The relay's loop: catch up on our own and dead consumers' entries, then block for new ones; a
 * Redis error pauses it, and our own pending entries are re-read after it.
 */
class RelayLoop {
  running = false;
  private loop: Promise<void> | undefined;
  private blockedNow = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly deps: {
      redis: RedisClient;
      consumer: OutboxConsumer;
      mover: OutboxMover;
      emit: Emit;
      blockMs: number;
      errorBackoffMs: number;
    },
  ) {}

  start(conn: RedisClient): void {
    this.running = true;
    this.loop = this.run(conn);
  }

  /** Ends the loop after the batch in hand; a blocked read is cut (`cut`), not waited out. */
  async stop(cut: () => void): Promise<void> {
    this.running = false;
    this.wake?.();
    // A blocked read has nothing in hand; cut it instead of waiting out blockMs. Whatever the
    // server handed us in that instant stays pending for this consumer and is re-read later.
    if (this.blockedNow) cut();
    await this.loop;
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => (clearTimeout(t), resolve());
    });
  }

  /** One round: catch up on our own and dead consumers' entries, then block for new ones. */
  private async round(conn: RedisClient): Promise<void> {
    const { consumer, mover } = this.deps;
    await consumer.ensureGroup();
    if (!mover.ownPendingDone) await mover.ownPending(this.deps.redis);
    if (mover.reclaimDue()) await mover.reclaim();
    // stop() may have come while we were busy above; it only cuts a read that is under way.
    if (!this.running) return;
    this.blockedNow = true;
    let entries: StreamEntry[];
    try {
      entries = await consumer.read(conn, '>', this.deps.blockMs);
    } finally {
      this.blockedNow = false;
    }
    // Entries already read are relayed even when stop() came meanwhile: finish the batch.
    await mover.relayEntries(entries);
  }

  private async run(conn: RedisClient): Promise<void> {
    while (this.running) {
      try {
        await this.round(conn);
      } catch (e) {
        if (!this.running) break;
        // A batch may have been read (pending under our name) and not added: re-read our own
        // pending entries next round instead of leaving them to the slow reclaim of dead consumers.
        this.deps.mover.ownPendingDone = false;
        this.deps.emit('outbox_relay_error', { err: e });
        await this.pause(this.deps.errorBackoffMs);
      }
    }
  }
}

export function createOutboxRelay(opts: OutboxRelayOptions): OutboxRelay {
  const { redis, metrics } = opts;
  const clock = opts.clock ?? systemClock;
  const logger = (opts.logger ?? silentLogger).child({ component: 'relay' });
  const consumer = new OutboxConsumer(redis, keyspace(opts.keyPrefix).outbox, opts.consumerName, opts.queue.relayBatchSize);
  const emit = createEvents({ metrics, logger, now: () => clock.now() });
  const pushQueue = createPushQueue(redis, opts.keyPrefix, emit);
  // A live relay holds entries pending only for one addBulk (milliseconds); a longer wait means
  // its consumer died. Reclaiming a live one's entries by mistake only re-adds jobs with the same ids.
  const claimIdleMs = opts.claimIdleMs ?? 15_000;
  const mover = new OutboxMover({ consumer, pushQueue, queue: opts.queue, metrics, logger, emit, clock, claimIdleMs });
  const loop = new RelayLoop({
    redis,
    consumer,
    mover,
    emit,
    blockMs: opts.blockMs ?? 2000,
    errorBackoffMs: opts.errorBackoffMs ?? 1000,
  });
  let blocking: RedisClient | undefined;
  const onReconnect = () => {
    mover.ownPendingDone = false;
  };

  return {
    pushQueue,
    relayOnce: () => mover.once(redis),
    async start() {
      if (loop.running) return;
      blocking = blockingConnection(redis, onReconnect);
      redis.on('reconnecting', onReconnect);
      loop.start(blocking);
    },
    async stop() {
      if (loop.running) {
        redis.off('reconnecting', onReconnect);
        await loop.stop(() => blocking?.disconnect());
        blocking?.disconnect();
      }
      await pushQueue.close();
    },
  };
}
