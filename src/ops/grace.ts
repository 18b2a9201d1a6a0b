// A time budget for shutdown: every step gets what is left of it, so a stop ends on time even
// when Redis or JIMS never answer (the step keeps running; the process exits without it).

/** Resolves true when `p` settled within `ms`, false when the time ran out first. Never rejects. */
export async function within(p: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (!p) return true;
  let timer: NodeJS.Timeout | undefined;
  const settled = p.then(
    () => true,
    () => true,
  );
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms)).unref()));
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Milliseconds left of `totalMs` since the budget was made, minus `reserveMs` kept for later steps. */
export function budget(totalMs: number, now: () => number): (reserveMs?: number) => number {
  const start = now();
  return (reserveMs = 0) => Math.max(0, totalMs - (now() - start) - reserveMs);
}
