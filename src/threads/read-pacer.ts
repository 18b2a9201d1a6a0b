// Reading in bursts. A receive thread woken for every datagram or two spends more CPU going to
// sleep and waking again (epoll, the scheduler, one event-loop turn) than on the datagrams
// themselves. So after a turn that drained its sockets, the thread hands off what it batched and
// sleeps `pauseMs`: the kernel's receive queue holds what arrives meanwhile, and the next turn
// reads it in one go. A turn that did not drain goes on at once, so under load the thread never
// pauses while lines wait; a pause only ever follows a turn that found the queue empty.
//
// Whether a turn drained is told by its size: a wakeup reads at most `linesPerWakeup` datagrams
// from a UDP socket (32 with Node's dgram, 4 batches of 64 with recvmmsg), so a turn with fewer
// emptied the queue. A TCP read delivers many lines at once, so a busy connection rarely looks
// drained.

/**
 * Receive-queue bytes one millisecond of pause may need: a burst of 400 k datagrams/s, each
 * costing the kernel about 2.5 KB of its accounting (a 500-byte line on loopback).
 */
export const BUFFER_BYTES_PER_PAUSE_MS = 1024 * 1024;

/**
 * The pause the UDP sockets' receive buffers allow: `pauseMs` when the smallest one (usable
 * bytes) holds that long a burst, else 0 (a host whose net.core.rmem_max was never raised).
 */
export function allowedPauseMs(pauseMs: number, usableBuffers: readonly number[]): number {
  const smallest = Math.min(...usableBuffers);
  return smallest >= pauseMs * BUFFER_BYTES_PER_PAUSE_MS ? pauseMs : 0;
}

export interface ReadPacerOptions {
  /** How long the thread sleeps after a drained turn (`ingest.readPauseMs`); 0: never. */
  readonly pauseMs: number;
  /** Datagrams one wakeup reads from a socket at most: a turn with fewer drained it. */
  readonly linesPerWakeup: number;
  /** Hands off the lines batched so far, so none waits out the pause. */
  readonly beforePause: () => void;
  /** Runs `f` once the turn's I/O callbacks are done (setImmediate). */
  readonly schedule: (f: () => void) => void;
  /** Blocks the thread for `ms` (Atomics.wait in the receive thread). */
  readonly sleep: (ms: number) => void;
}

export interface ReadPacer {
  /** Called for every line received. */
  line(): void;
}

/** Reads without pauses. */
export const NO_PAUSES: ReadPacer = { line: () => {} };

export function createReadPacer(opts: ReadPacerOptions): ReadPacer {
  if (opts.pauseMs <= 0) return NO_PAUSES;
  let lines = 0;
  const endOfTurn = () => {
    const drained = lines < opts.linesPerWakeup;
    lines = 0;
    if (!drained) return;
    opts.beforePause();
    opts.sleep(opts.pauseMs);
  };
  return {
    line() {
      if (lines++ === 0) opts.schedule(endOfTurn);
    },
  };
}

/** A synchronous sleep of the calling thread (the receive thread: nothing else runs on it meanwhile). */
export function blockingSleep(): (ms: number) => void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  return (ms) => void Atomics.wait(cell, 0, 0, ms);
}
