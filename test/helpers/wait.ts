// The one polling wait of the test suite: re-checks a condition (a counter, a state in Redis, a
// table in the simulator — things that emit no event) on a short interval, bounded by a deadline.
// It waits for a condition, never for a length of time.

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Named in the error on timeout. */
  what?: string;
  /** How often to re-check (default 10 ms). */
  intervalMs?: number;
}

export async function waitFor(cond: () => boolean | Promise<boolean>, opts: WaitOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 10));
  }
}
