// Turns many single calls made in the same turn of the event loop into one batched call: the
// push workers' guard updates ride in one Redis script call instead of one each. Callers keep
// their own promise and their own order; a failed batch fails each of its callers.

export class Coalescer<In, Out> {
  private queued: { input: In; resolve: (v: Out) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  /** `run` gets the inputs in call order and answers one output per input, in the same order. */
  constructor(
    private readonly run: (inputs: In[]) => Promise<Out[]>,
    private readonly maxBatch = 500,
  ) {}

  call(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.queued.push({ input, resolve, reject });
      if (this.queued.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: callers woken by the same socket read join the batch.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queued;
    if (batch.length === 0) return;
    this.queued = [];
    this.run(batch.map((b) => b.input)).then(
      (outs) => batch.forEach((b, i) => b.resolve(outs[i] as Out)),
      (e: unknown) => batch.forEach((b) => b.reject(e)),
    );
  }
}
