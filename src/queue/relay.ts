// Outbox relay: moves identity events from the Redis outbox stream into the BullMQ push queue.
// A consumer group lets replicas share the stream and reclaim a crashed consumer's entries.
// Order of effects is add-job → XACK+XDEL, so a crash anywhere re-relays; the deterministic job
// id (`<ipKey>-<seq>`) makes a re-add a no-op and the workers' ordering guard makes a late
// re-add (after the job was removed) harmless.
import { duplicateClient, type RedisClient as Redis } from '../redis/connection.js';
import type { QueueConfig } from '../config/schema.js';
import { rateLimiter, silentLogger, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { keyspace } from '../redis/keys.js';
import type { IdentityEvent } from '../types.js';
import { createPushQueue, pushJobOptions, type PushQueue } from './jobs.js';

export const RELAY_GROUP = 'relay';

export interface OutboxRelayOptions {
  /** A producer connection (fails fast); also carries the BullMQ queue's commands. */
  redis: Redis;
  queue: Pick<QueueConfig, 'relayBatchSize' | 'keepCompletedJobs'>;
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

export function createOutboxRelay(opts: OutboxRelayOptions): OutboxRelay {
  const { redis, metrics, consumerName } = opts;
  const logger = (opts.logger ?? silentLogger).child({ component: 'relay' });
  const ks = keyspace(opts.keyPrefix);
  const stream = ks.outbox;
  const batch = opts.queue.relayBatchSize;
  const blockMs = opts.blockMs ?? 2000;
  // A live relay holds entries pending only for one addBulk (milliseconds); a longer wait means
  // its consumer died. Reclaiming a live one's entries by mistake only re-adds jobs with the same ids.
  const claimIdleMs = opts.claimIdleMs ?? 15_000;
  const errorBackoffMs = opts.errorBackoffMs ?? 1000;
  const pushQueue = createPushQueue(redis, opts.keyPrefix, logger);
  const invalidLog = rateLimiter(10, () => Date.now());
  const errorLog = rateLimiter(6, () => Date.now());

  let groupReady = false;
  let ownPendingDone = false;
  let claimCursor = '0-0';
  let lastClaimAt = 0;
  let running = false;
  let loop: Promise<void> | undefined;
  let blocking: Redis | undefined;
  let blockedNow = false;
  let wake: (() => void) | undefined;

  async function ensureGroup(): Promise<void> {
    if (groupReady) return;
    try {
      // From id 0: entries written before the first relay ever started must be relayed too.
      await redis.xgroup('CREATE', stream, RELAY_GROUP, '0', 'MKSTREAM');
    } catch (e) {
      if (!String((e as Error).message).includes('BUSYGROUP')) throw e;
    }
    groupReady = true;
  }

  async function relayEntries(entries: readonly StreamEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const jobs: Parameters<PushQueue['addBulk']>[0] = [];
    const invalid: string[] = [];
    for (const [id, fields] of entries) {
      const parsed = parseOutboxEntry(fields);
      if (!parsed) {
        invalid.push(id);
        metrics.relayInvalid.inc();
        const { allowed, suppressed } = invalidLog();
        // The entry can never become a job; keeping it would make it be reclaimed forever.
        if (allowed) logger.error({ entryId: id, fields, suppressed }, 'outbox entry is not a valid identity event; dropped');
        continue;
      }
      const { ipKey, event } = parsed;
      jobs.push({ name: event.kind, data: event, opts: pushJobOptions(opts.queue, ipKey, event.seq) });
    }
    if (jobs.length > 0) await pushQueue.addBulk(jobs);
    const ids = entries.map(([id]) => id);
    await redis
      .multi()
      .xack(stream, RELAY_GROUP, ...ids)
      .xdel(stream, ...ids)
      .exec();
    metrics.relayed.inc(jobs.length);
    if (jobs.length > 0) logger.debug({ count: jobs.length }, 'relayed outbox entries');
    return jobs.length;
  }

  /** Entries of consumers that died mid-batch; XAUTOCLAIM hands them to us. */
  async function reclaim(): Promise<number> {
    const reply = (await redis.xautoclaim(stream, RELAY_GROUP, consumerName, claimIdleMs, claimCursor, 'COUNT', batch)) as [
      string,
      (StreamEntry | null)[],
      string[]?,
    ];
    claimCursor = reply[0];
    lastClaimAt = Date.now();
    const entries = reply[1].filter((e): e is StreamEntry => Array.isArray(e));
    if (entries.length > 0) logger.warn({ count: entries.length }, 'reclaimed outbox entries of a stalled relay consumer');
    return relayEntries(entries);
  }

  async function readGroup(conn: Redis, id: '0' | '>', block?: number): Promise<StreamEntry[]> {
    const args: (string | number)[] = ['GROUP', RELAY_GROUP, consumerName, 'COUNT', batch];
    if (block !== undefined) args.push('BLOCK', block);
    args.push('STREAMS', stream, id);
    const reply = (await (conn.xreadgroup as (...a: (string | number)[]) => Promise<unknown>)(...args)) as
      [string, StreamEntry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  /** Our own pending entries (read before a restart, not yet acknowledged). */
  async function ownPending(): Promise<number> {
    let total = 0;
    for (;;) {
      const entries = await readGroup(redis, '0');
      if (entries.length === 0) break;
      total += await relayEntries(entries);
    }
    ownPendingDone = true;
    return total;
  }

  async function relayOnce(): Promise<number> {
    await ensureGroup();
    let n = 0;
    if (!ownPendingDone) n += await ownPending();
    n += await reclaim();
    n += await relayEntries(await readGroup(redis, '>'));
    return n;
  }

  const onReconnect = () => {
    ownPendingDone = false;
  };

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  async function run(conn: Redis): Promise<void> {
    while (running) {
      try {
        await ensureGroup();
        if (!ownPendingDone) await ownPending();
        if (Date.now() - lastClaimAt >= claimIdleMs / 2) await reclaim();
        // stop() may have come while we were busy above; it only cuts a read that is under way.
        if (!running) break;
        blockedNow = true;
        let entries: StreamEntry[];
        try {
          entries = await readGroup(conn, '>', blockMs);
        } finally {
          blockedNow = false;
        }
        // Entries already read are relayed even when stop() came meanwhile: finish the batch.
        await relayEntries(entries);
      } catch (e) {
        if (!running) break;
        // A batch may have been read (pending under our name) and not added: re-read our own
        // pending entries next round instead of leaving them to the slow reclaim of dead consumers.
        ownPendingDone = false;
        const { allowed, suppressed } = errorLog();
        if (allowed) logger.warn({ err: (e as Error).message, suppressed }, 'outbox relay error; retrying');
        await pause(errorBackoffMs);
      }
    }
  }

  return {
    pushQueue,
    relayOnce,
    async start() {
      if (running) return;
      running = true;
      // XREADGROUP BLOCK holds its connection; give it its own so other commands are not queued behind it.
      blocking = duplicateClient(redis, { maxRetriesPerRequest: null, enableOfflineQueue: true });
      blocking.on('error', () => {});
      // ioredis resends a command whose reply was lost in a disconnect: an XREADGROUP that Redis had
      // already served then leaves its entries pending under our name, unseen. Re-read them after
      // every reconnect instead of waiting for the dead-consumer reclaim.
      blocking.on('reconnecting', onReconnect);
      redis.on('reconnecting', onReconnect);
      loop = run(blocking);
    },
    async stop() {
      if (!running) {
        await pushQueue.close();
        return;
      }
      running = false;
      redis.off('reconnecting', onReconnect);
      wake?.();
      // A blocked read has nothing in hand; cut it instead of waiting out blockMs. Whatever the
      // server handed us in that instant stays pending for this consumer and is re-read later.
      if (blockedNow) blocking?.disconnect();
      await loop;
      blocking?.disconnect();
      await pushQueue.close();
    },
  };
}
