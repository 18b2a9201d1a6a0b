// The session engine adapter: takes VpnEvents from the receivers without ever blocking them,
// applies them to Redis through the atomic session script in submission order, and rides out a
// Redis outage with a bounded in-memory FIFO (counted drops, never silent).
import type { Redis } from 'ioredis';
import { rateLimiter } from '../log.js';
import { canonicalIp, ipKey } from '../redis/keys.js';
import type { VpnEvent } from '../types.js';
import type { SessionAdapterOptions } from './adapter-options.js';
import { defineSessionScript, parseScriptReply, queueSessionScript, type ScriptResult } from './script.js';
import { reportDecision } from './report.js';
import type { LineInput } from './spec.js';

export interface SessionEngineOptions extends SessionAdapterOptions {
  /** A client the engine may pipeline on. Fail-fast options (e.g. `maxRetriesPerRequest: 1`) make not-ready show sooner. */
  redis: Redis;
  /** First retry delay after a failed Redis call; doubles up to `retryMaxDelayMs`. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Script calls sent in one pipeline. */
  batchSize?: number;
  /** Bound on how long `close()` waits for a call already sent. */
  closeTimeoutMs?: number;
}

export interface SessionEngine {
  /** Queues the event (one script call per IP). Never throws, never waits. */
  submit(event: VpnEvent, correlationId: string): void;
  /** Resolves when everything submitted before this call has been applied (or dropped and counted). */
  drain(): Promise<void>;
  /** False while Redis is unreachable or the last call to it failed. */
  ready(): boolean;
  /** Stops retrying; whatever is still unapplied is counted as dropped. Call `drain()` first for a clean stop. */
  close(): Promise<void>;
}

interface Item {
  /** Submission number: the FIFO order, and what `drain()` waits on. */
  readonly n: number;
  readonly key: string;
  readonly input: LineInput;
}

/** An array-backed FIFO with O(1) amortised shift. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(v: T): void {
    this.items.push(v);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  shift(): T | undefined {
    const v = this.items[this.head];
    if (v === undefined) return undefined;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }
  take(n: number): T[] {
    const out: T[] = [];
    while (out.length < n && this.length > 0) out.push(this.shift() as T);
    return out;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

// Reply errors that say "not now" rather than "never": the call is retried like a lost connection.
const TRANSIENT_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOSCRIPT|OOM)\b/;

function isTransient(err: Error): boolean {
  return err.name !== 'ReplyError' || TRANSIENT_REPLY.test(err.message);
}

export function createSessionEngine(opts: SessionEngineOptions): SessionEngine {
  const { redis, cfg, keyPrefix, metrics, logger, clock } = opts;
  const baseDelay = opts.retryBaseDelayMs ?? 100;
  const maxDelay = opts.retryMaxDelayMs ?? 5000;
  const batchSize = opts.batchSize ?? 100;
  const closeTimeoutMs = opts.closeTimeoutMs ?? 5000;
  const now = () => clock.now();
  const dropLog = rateLimiter(6, now);
  const errorLog = rateLimiter(6, now);
  const badIpLog = rateLimiter(6, now);
  defineSessionScript(redis);

  const fifo = new Fifo<Item>();
  /** The batch sent (or about to be re-sent) to Redis; it leaves only when applied. */
  let pending: Item[] = [];
  let nextN = 0;
  let failing = false;
  let attempt = 0;
  let closed = false;
  let pumping: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let waiters: { target: number; resolve: () => void }[] = [];

  const depth = () => pending.length + fifo.length;
  const lowestUnapplied = () => pending[0]?.n ?? fifo.peek()?.n ?? nextN;

  const settle = () => {
    metrics.bufferDepth.set(depth());
    if (waiters.length === 0) return;
    const low = lowestUnapplied();
    const still: typeof waiters = [];
    for (const w of waiters) {
      if (low >= w.target) w.resolve();
      else still.push(w);
    }
    waiters = still;
  };

  const drop = (item: Item, why: string) => {
    metrics.bufferDropped.inc();
    const gate = dropLog();
    if (gate.allowed) {
      const { kind, ip, user, domain, correlationId } = item.input;
      logger.warn({ why, kind, ip, user, domain, correlationId, suppressedLogs: gate.suppressed }, 'session event dropped');
    }
  };

  // When the buffer is full the OLDEST unsent event goes: newer lines carry the current state of
  // an IP, and JIMS must end with the latest state (a lost old UP is repaired by the next rekey or
  // an orphan DOWN; a lost newest DOWN would leave a departed user mapped for a day).
  const enqueue = (item: Item) => {
    if (depth() >= cfg.bufferMaxEvents) {
      const oldest = fifo.shift();
      if (oldest) drop(oldest, 'buffer full: dropped oldest');
      else return drop(item, 'buffer full');
    }
    fifo.push(item);
  };

  const poison = (item: Item, err: unknown) => {
    metrics.decisions.inc({ decision: 'error' });
    const gate = errorLog();
    if (gate.allowed) {
      const { kind, ip, user, correlationId } = item.input;
      logger.error({ err, kind, ip, user, correlationId, suppressedLogs: gate.suppressed }, 'session script rejected event');
    }
  };

  /** Sends the pending batch; returns false when Redis could not be reached (retry later). */
  const applyBatch = async (): Promise<boolean> => {
    const batch = pending;
    const p = redis.pipeline();
    const t = now();
    for (const item of batch) queueSessionScript(p, keyPrefix, item.key, item.input, cfg, t);
    let results: [Error | null, unknown][] | null;
    let failure: unknown;
    try {
      results = await p.exec();
    } catch (e) {
      results = null;
      failure = e;
    }
    if (closed && pending !== batch) return true; // close() gave up on this batch and counted it
    let applied = 0;
    for (const [err, reply] of results ?? []) {
      const item = batch[applied];
      if (!item) break;
      if (err && isTransient(err)) {
        failure = err;
        break;
      }
      applied++;
      if (err) {
        poison(item, err);
        continue;
      }
      let r: ScriptResult;
      try {
        r = parseScriptReply(reply);
      } catch (e) {
        poison(item, e);
        continue;
      }
      reportDecision(metrics, logger, r, item.input);
    }
    pending = batch.slice(applied);
    settle();
    if (applied < batch.length) {
      if (!failing) logger.warn({ err: failure, buffered: depth() }, 'redis unreachable: holding session events in memory');
      failing = true;
      return false;
    }
    if (failing) logger.info({ buffered: depth() }, 'redis reachable again: applying held session events');
    failing = false;
    attempt = 0;
    return true;
  };

  const backoff = () =>
    new Promise<void>((resolve) => {
      const delay = Math.min(maxDelay, baseDelay * 2 ** attempt++);
      const timer = setTimeout(done, delay);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const pump = async () => {
    while (!closed && depth() > 0) {
      if (pending.length === 0) pending = fifo.take(batchSize);
      if (!(await applyBatch()) && !closed) await backoff();
    }
  };

  const kick = () => {
    if (pumping || closed) return;
    pumping = pump()
      .catch((e: unknown) => logger.error({ err: e }, 'session engine loop failed'))
      .finally(() => {
        pumping = undefined;
        if (!closed && depth() > 0) kick();
      });
  };

  return {
    submit(event, correlationId) {
      try {
        for (const raw of event.ips) {
          const ip = canonicalIp(raw);
          if (ip === undefined) {
            metrics.ignored.inc({ reason: 'no_ip' });
            const gate = badIpLog();
            if (gate.allowed) logger.warn({ ip: raw, correlationId, suppressedLogs: gate.suppressed }, 'not an IP address');
            continue;
          }
          const input: LineInput = {
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
            journal: event.journal,
          };
          const item: Item = { n: nextN++, key: ipKey(ip, cfg.ipScope), input };
          if (closed) drop(item, 'engine closed');
          else enqueue(item);
        }
        settle();
        kick();
      } catch (e) {
        logger.error({ err: e, correlationId }, 'session submit failed');
      }
    },

    drain() {
      const target = nextN;
      if (lowestUnapplied() >= target) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push({ target, resolve }));
    },

    ready() {
      return !closed && !failing && redis.status === 'ready';
    },

    async close() {
      if (closed) return;
      closed = true;
      wake?.();
      if (pumping) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([pumping, new Promise((r) => (timer = setTimeout(r, closeTimeoutMs)))]);
        clearTimeout(timer);
      }
      const left = [...pending, ...fifo.take(fifo.length)];
      pending = [];
      fifo.clear();
      for (const item of left) drop(item, 'engine closed before Redis applied it');
      settle();
      for (const w of waiters) w.resolve();
      waiters = [];
    },
  };
}
