// Puts the pushes that arrive in the same turn of the event loop into shared requests: each push
// still gets its own outcome, but the HTTP cost is paid per request, not per event. Events that
// share a request shape (the same template) are grouped, in arrival order, up to `maxEntries`
// (collected by the same Coalescer that batches the push workers' Redis calls).
//
// A request that is refused as a whole (a permanent answer such as 400 or 413) may be refused for
// one bad entry only: it is split in halves, each sent again, down to single events, which get
// exactly the outcome they would have had alone. Retryable answers apply to every entry (each job
// retries), so nothing is ever lost. Halves are sent one after the other, keeping arrival order.
import { Coalescer } from '../queue/coalesce.js';
import type { PushOutcome } from '../types.js';

export interface PushBatcherOptions<T, G> {
  maxEntries: number;
  /** The group of a push (pushes of one group may share a request), or undefined to send it alone. */
  groupOf(item: T): G | undefined;
  /** Sends one request holding these pushes (one group, in order) and classifies the answer. */
  send(items: readonly T[], group: G | undefined): Promise<PushOutcome>;
}

/** Whether a refusal of a whole request may be one entry's fault (then the request is split). */
export function worthSplitting(outcome: PushOutcome): boolean {
  return outcome.result === 'permanent' && !outcome.reason.startsWith('auth-rejected');
}

export class PushBatcher<T, G> {
  /** Collects the pushes of one turn by group, up to maxEntries a request. */
  private readonly requests: Coalescer<T, PushOutcome, G>;

  constructor(private readonly opts: PushBatcherOptions<T, G>) {
    this.requests = new Coalescer((items, group) => this.deliver(items, group), Math.max(1, opts.maxEntries));
  }

  push(item: T): Promise<PushOutcome> {
    const group = this.opts.maxEntries > 1 ? this.opts.groupOf(item) : undefined;
    if (group === undefined) return this.deliver([item], undefined).then((o) => o[0] as PushOutcome);
    return this.requests.call(item, group);
  }

  /** One outcome per push: the request's, or (split on refusal) each half's. Never rejects. */
  async deliver(events: readonly T[], group: G | undefined): Promise<PushOutcome[]> {
    let outcome: PushOutcome;
    try {
      outcome = await this.opts.send(events, group);
    } catch (e) {
      outcome = { result: 'retry', reason: `push failed: ${(e as Error).message}`, server: '' };
    }
    if (events.length === 1 || !worthSplitting(outcome)) return events.map(() => outcome);
    const half = Math.ceil(events.length / 2);
    const first = await this.deliver(events.slice(0, half), group);
    const second = await this.deliver(events.slice(half), group);
    return [...first, ...second];
  }
}
