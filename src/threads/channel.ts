// Messages between the main thread and a worker thread: typed one-way posts plus requests that
// get one reply (metrics snapshots, flush markers, reloads). A request that gets no reply in time
// resolves undefined, so a stuck or dead thread can never hang its caller.

export interface Message {
  readonly t: string;
  readonly id?: number;
  readonly reply?: boolean;
}

export interface Endpoint {
  postMessage(message: unknown, transfer?: readonly ArrayBuffer[]): void;
  on(event: 'message', listener: (message: Message) => void): unknown;
}

export interface Channel {
  on<M extends Message>(type: M['t'], handler: (message: M) => void): void;
  post(message: Message, transfer?: readonly ArrayBuffer[]): void;
  request<R>(message: Message, timeoutMs: number): Promise<R | undefined>;
  reply(to: Message, message: Message): void;
  /** Resolves every open request with undefined (the thread is gone). */
  abandon(): void;
}

export function createChannel(endpoint: Endpoint): Channel {
  const handlers = new Map<string, (m: Message) => void>();
  const waiting = new Map<number, { resolve: (m: unknown) => void; timer: NodeJS.Timeout }>();
  let nextId = 1;
  endpoint.on('message', (m) => {
    if (m.reply && m.id !== undefined) {
      const w = waiting.get(m.id);
      waiting.delete(m.id);
      if (w) {
        clearTimeout(w.timer);
        w.resolve(m);
      }
      return;
    }
    handlers.get(m.t)?.(m);
  });
  return {
    on(type, handler) {
      handlers.set(type, handler as (m: Message) => void);
    },
    post: (m, transfer) => endpoint.postMessage(m, transfer),
    request<R>(m: Message, timeoutMs: number) {
      const id = nextId++;
      return new Promise<R | undefined>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve(undefined);
        }, timeoutMs);
        timer.unref();
        waiting.set(id, { resolve: resolve as (m: unknown) => void, timer });
        endpoint.postMessage({ ...m, id });
      });
    },
    reply: (to, m) => endpoint.postMessage({ ...m, id: to.id, reply: true }),
    abandon() {
      for (const [id, w] of waiting) {
        clearTimeout(w.timer);
        waiting.delete(id);
        w.resolve(undefined);
      }
    },
  };
}
