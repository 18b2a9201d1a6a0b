// The matcher's heartbeat: a few integers in shared memory that the matcher thread writes as it
// works and the main thread reads without asking (a thread stuck in a regex cannot answer
// messages). Which line of which batch is running, which pattern's regex it is in, and a line
// counter that moves on every line: a counter that does not move while busy means a runaway.
const BUSY = 0;
const COUNT = 1;
const SEQ = 2;
const LINE = 3;
const PATTERN = 4;
const SLOTS = 5;

export interface HeartbeatState {
  readonly busy: boolean;
  /** Lines begun since the thread started. */
  readonly count: number;
  readonly seq: number;
  readonly line: number;
  /** Index (in library order) of the pattern whose regex is running; -1 before any. */
  readonly pattern: number;
}

export interface Heartbeat {
  readonly buffer: SharedArrayBuffer;
  begin(seq: number, line: number): void;
  pattern(index: number): void;
  end(): void;
  read(): HeartbeatState;
}

export function createHeartbeat(buffer = new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT)): Heartbeat {
  const a = new Int32Array(buffer);
  return {
    buffer,
    begin(seq, line) {
      Atomics.store(a, SEQ, seq);
      Atomics.store(a, LINE, line);
      Atomics.store(a, PATTERN, -1);
      Atomics.add(a, COUNT, 1);
      Atomics.store(a, BUSY, 1);
    },
    pattern: (index) => void Atomics.store(a, PATTERN, index),
    end: () => void Atomics.store(a, BUSY, 0),
    read: () => ({
      busy: Atomics.load(a, BUSY) === 1,
      count: Atomics.load(a, COUNT),
      seq: Atomics.load(a, SEQ),
      line: Atomics.load(a, LINE),
      pattern: Atomics.load(a, PATTERN),
    }),
  };
}

export interface Watchdog {
  /** Call on a timer; calls onRunaway once per stuck line. */
  tick(): void;
}

/**
 * Decides a runaway from two looks at the heartbeat: busy both times on the same line (the
 * counter did not move) and at least `timeoutMs` apart. A late tick (a busy main thread) can only
 * make the look longer, never blame a line that has not run that long.
 */
export function createWatchdog(opts: {
  timeoutMs: number;
  read: () => HeartbeatState;
  now: () => number;
  onRunaway: (state: HeartbeatState) => void;
}): Watchdog {
  let seen: { count: number; since: number } | undefined;
  return {
    tick() {
      const s = opts.read();
      if (!s.busy) {
        seen = undefined;
        return;
      }
      const t = opts.now();
      if (!seen || seen.count !== s.count) {
        seen = { count: s.count, since: t };
        return;
      }
      if (t - seen.since >= opts.timeoutMs) {
        seen = undefined;
        opts.onRunaway(s);
      }
    },
  };
}
