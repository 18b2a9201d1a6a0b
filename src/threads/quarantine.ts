// Quarantined patterns: a pattern whose regex ran past patterns.matchTimeoutMs on a line is
// skipped by the matcher from then on. The key is the pattern id plus a hash of its regex, so an
// edited pattern is tried again; entries live in one Redis hash where every replica, every
// restart and `ptim-bridge check` find them. A record carries the line's length and shape, never
// the line (it may hold a username).
import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis/connection.js';
import type { Emit } from '../events.js';
import type { CompiledPattern } from '../match/matcher.js';
import type { Metrics } from '../ops/metrics.js';
import { keyspace } from '../redis/keys.js';
import type { Clock } from '../types.js';

export interface QuarantineEntry {
  /** `patternId:regexHash`. */
  readonly key: string;
  readonly patternId: string;
  readonly regexHash: string;
  /** ISO time it was quarantined. */
  readonly at: string;
  readonly lineBytes: number;
  readonly lineShape: string;
  readonly matchTimeoutMs: number;
}

export function patternKey(p: Pick<CompiledPattern, 'id' | 'regexSource' | 'sd'>): string {
  const what = p.regexSource ?? JSON.stringify(p.sd ?? null);
  return `${p.id}:${createHash('sha256').update(what).digest('hex').slice(0, 16)}`;
}

const SHAPE_MAX_CHARS = 120;

/**
 * The line's shape without its content: runs of letters (A), digits (D), spaces (S) and other
 * bytes (P), each with its length, e.g. `A30P1` for thirty letters and a bang. Enough to rebuild
 * a test case for the pattern, not enough to learn a username.
 */
export function lineShape(bytes: Buffer): string {
  const cls = (b: number) =>
    (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ? 'A' : b >= 0x30 && b <= 0x39 ? 'D' : b === 0x20 ? 'S' : 'P';
  let out = '';
  let run = '';
  let n = 0;
  for (const b of bytes) {
    const c = cls(b);
    if (c === run) n++;
    else {
      if (n > 0) out += `${run}${n}`;
      run = c;
      n = 1;
    }
    if (out.length > SHAPE_MAX_CHARS) return `${out.slice(0, SHAPE_MAX_CHARS)}…`;
  }
  if (n > 0) out += `${run}${n}`;
  return out.length > SHAPE_MAX_CHARS ? `${out.slice(0, SHAPE_MAX_CHARS)}…` : out;
}

export interface QuarantineStore {
  list(): Promise<QuarantineEntry[]>;
  add(entry: QuarantineEntry): Promise<void>;
}

export function createQuarantineStore(redis: RedisClient, keyPrefix: string): QuarantineStore {
  const key = keyspace(keyPrefix).quarantine;
  return {
    async list() {
      const all = await redis.hgetall(key);
      return Object.values(all).flatMap((v) => {
        try {
          return [JSON.parse(v) as QuarantineEntry];
        } catch {
          return [];
        }
      });
    },
    async add(entry) {
      await redis.hset(key, entry.key, JSON.stringify(entry));
    },
  };
}

/** `check`'s lines for the stored quarantine: which entries still apply to the library on disk. */
export function describeQuarantine(entries: readonly QuarantineEntry[], libraryKeys: ReadonlySet<string>): string[] {
  if (entries.length === 0) return ['pattern quarantine: none'];
  return entries.map((e) => {
    const state = libraryKeys.has(e.key)
      ? 'QUARANTINED (skipped by the matcher)'
      : 'was quarantined; its regex has changed since, so it is tried again';
    return (
      `pattern quarantine: ${e.patternId} (regex ${e.regexHash}) ${state}: since ${e.at} ` +
      `a ${e.lineBytes}-byte line shaped ${e.lineShape} ran past ${e.matchTimeoutMs} ms`
    );
  });
}

export interface QuarantineBook {
  keys(): string[];
  entries(): QuarantineEntry[];
  /** Quarantines `pattern` (once): logs, counts, persists. */
  record(pattern: { id: string; key: string }, line: Buffer | undefined): void;
  /** Adds the store's entries; returns the keys that were new here. */
  restore(): Promise<string[]>;
}

/** The running process's quarantine: what it logs, counts, shows in /readyz and persists. */
export function createQuarantineBook(deps: {
  readonly matchTimeoutMs: number;
  readonly emit: Emit;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly store?: QuarantineStore;
}): QuarantineBook {
  const { emit, metrics } = deps;
  const book = new Map<string, QuarantineEntry>();
  const gauge = () => metrics.patternsQuarantined.set(book.size);
  return {
    keys: () => [...book.keys()],
    entries: () => [...book.values()],
    record(p, line) {
      if (book.has(p.key)) return;
      const regexHash = p.key.slice(p.key.lastIndexOf(':') + 1);
      const entry: QuarantineEntry = {
        key: p.key,
        patternId: p.id,
        regexHash,
        at: new Date(deps.clock.now()).toISOString(),
        lineBytes: line?.length ?? 0,
        lineShape: line ? lineShape(line) : '',
        matchTimeoutMs: deps.matchTimeoutMs,
      };
      book.set(p.key, entry);
      gauge();
      emit('pattern_quarantined', {
        labels: { pattern: p.id },
        pattern: p.id,
        regexHash,
        lineBytes: entry.lineBytes,
        lineShape: entry.lineShape,
        matchTimeoutMs: deps.matchTimeoutMs,
      });
      deps.store?.add(entry).catch((err: unknown) => emit('quarantine_persist_failed', { err, pattern: p.id }));
    },
    async restore() {
      const fresh = ((await deps.store?.list()) ?? []).filter((q) => !book.has(q.key));
      for (const q of fresh) book.set(q.key, q);
      gauge();
      return fresh.map((q) => q.key);
    },
  };
}
