// Turns many single calls made in the same turn of the event loop into batched calls: the push
// workers' guard updates ride in one Redis script call instead of one each, and JIMS pushes of
// one template share a request. Calls may name a group (only calls of one group share a batch).
// Callers keep their own promise and their own order; a failed batch fails each of its callers.

interface Queued<In, Out> {
  readonly input: In;
  readonly resolve: (v: Out) => void;
  readonly reject: (e: unknown) => void;
}

export class Coalescer<In, Out, G = undefined> {
  private readonly groups = new Map<G | undefined, Queued<In, Out>[]>();
  private scheduled = false;

  /** `run` gets one group's inputs in call order and answers one output per input, in the same order. */
  constructor(
    private readonly run: (inputs: In[], group: G | undefined) => Promise<Out[]>,
    private readonly maxBatch = 500,
  ) {}

  call(input: In, group?: G): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      let queued = this.groups.get(group);
      if (!queued) this.groups.set(group, (queued = []));
      queued.push({ input, resolve, reject });
      if (queued.length >= this.maxBatch) this.flushGroup(group);
      else if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: callers woken by the same socket read join the batch.
        setImmediate(() => this.flushAll());
      }
    });
  }

  private flushAll(): void {
    this.scheduled = false;
    for (const group of [...this.groups.keys()]) this.flushGroup(group);
  }

  private flushGroup(group: G | undefined): void {
    const batch = this.groups.get(group);
    this.groups.delete(group);
    if (!batch?.length) return;
    this.run(
      batch.map((b) => b.input),
      group,
    ).then(
      (outs) => batch.forEach((b, i) => b.resolve(outs[i] as Out)),
      (e: unknown) => batch.forEach((b) => b.reject(e)),
    );
  }
}
