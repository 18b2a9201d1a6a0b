// Entry of the matcher thread: parse → match → normalize through the same createPipeline().process
// the golden tests drive, on batches of candidate lines from the receive thread (relayed by the
// main thread, which keeps each batch until it is answered). Its library comes from the main
// thread, loaded and checked there (match/runnable.ts): this thread only compiles it. The
// heartbeat says which line and pattern are running, so the main thread can end this thread when
// one line runs away.
import { parentPort, workerData } from 'node:worker_threads';
import type { IdentityConfig } from '../config/schema.js';
import { libraryFromSpec, type Library, type LibrarySpec } from '../match/runnable.js';
import { createThreadMetrics } from './thread-metrics.js';
import { createPipeline, type Pipeline } from '../pipeline.js';
import { HISTORY_TEXT_CHARS } from '../history/entries.js';
import { systemClock, type RawMessage, type VpnEvent } from '../types.js';
import { createChannel, type Endpoint, type Message } from './channel.js';
import { unpackBatch, type BatchOrder } from './handoff.js';
import { createHeartbeat } from './heartbeat.js';
import { threadLogger } from './log.js';
import { toWireError } from './spawn.js';
import { summarize, watchedLibrary } from './watched-library.js';

export interface MatcherThreadData {
  /** The library to run, as the main thread loaded it. */
  readonly library: LibrarySpec;
  readonly identity: IdentityConfig;
  readonly nearMissLogPerMinute: number;
  readonly maxFieldBytes: number;
  /** Whether events carry their line's first characters: only the per-IP history reads them. */
  readonly lineText: boolean;
  readonly quarantined: readonly string[];
  readonly heartbeat: SharedArrayBuffer;
  readonly logLevel: string;
  /** Test-only: a module whose default export rewrites the loaded library (e.g. adds a hostile pattern). */
  readonly libraryHook?: string;
}

const port = parentPort as unknown as Endpoint;
const data = workerData as MatcherThreadData;
const channel = createChannel(port);
const logger = threadLogger(data.logLevel, (r) => port.postMessage(r));
const metrics = createThreadMetrics();
const heartbeat = createHeartbeat(data.heartbeat);
const quarantined = new Set(data.quarantined);

async function load(spec: LibrarySpec): Promise<Library> {
  const lib = libraryFromSpec(spec);
  if (!data.libraryHook) return lib;
  const hook = (await import(data.libraryHook)) as { default: (l: Library) => Library };
  return hook.default(lib);
}

/** The event with its line's source and first characters, for the per-IP history on the main thread. */
function withLine(event: VpnEvent, raw: RawMessage): VpnEvent {
  const text = raw.bytes.toString('latin1', 0, Math.min(raw.bytes.length, HISTORY_TEXT_CHARS));
  // Object.assign: a spread followed by a property is V8's slow path on Node 20 (`npm run bench:spread`).
  return Object.assign({}, event, { line: { transport: raw.transport, sourceIp: raw.sourceIp, text } });
}

function serve(pipeline: Pipeline, initial: Library): void {
  let library = initial;
  const install = (lib: Library) => {
    library = lib;
    pipeline.setLibrary(watchedLibrary(lib, quarantined, heartbeat));
  };
  // The batches the main thread received in one turn, in order; each is answered once matched.
  channel.on('batches', (m: Message & { list: BatchOrder[] }) => {
    for (const { batch, skip } of m.list) {
      const events: VpnEvent[] = [];
      const raws = unpackBatch(batch);
      for (let i = 0; i < raws.length; i++) {
        if (skip?.includes(i)) continue;
        heartbeat.begin(batch.seq, i);
        const outcome = pipeline.process(raws[i]!);
        heartbeat.end();
        if (outcome.type === 'event') events.push(data.lineText ? withLine(outcome.event, raws[i]!) : outcome.event);
      }
      port.postMessage({ t: 'done', seq: batch.seq, events });
    }
  });
  channel.on('reload', (m: Message & { library: LibrarySpec }) => {
    load(m.library).then(
      (lib) => {
        install(lib);
        channel.reply(m, { t: 'reloaded', summary: summarize(lib, quarantined) } as Message);
      },
      (e: unknown) => channel.reply(m, { t: 'reloaded', error: toWireError(e) } as Message),
    );
  });
  channel.on('quarantine', (m: Message & { keys: string[] }) => {
    for (const k of m.keys) quarantined.add(k);
    install(library);
  });
  channel.on('metrics', (m: Message) => {
    pipeline.flushMetrics();
    void metrics.registry.getMetricsAsJSON().then((json) => channel.reply(m, { t: 'metrics', json } as Message));
  });
}

load(data.library).then(
  (lib) => {
    const pipeline = createPipeline({
      library: watchedLibrary(lib, quarantined, heartbeat),
      identity: data.identity,
      metrics,
      logger,
      clock: systemClock,
      nearMissLogPerMinute: data.nearMissLogPerMinute,
      maxFieldBytes: data.maxFieldBytes,
    });
    serve(pipeline, lib);
    port.postMessage({ t: 'ready', summary: summarize(lib, quarantined) });
  },
  (e: unknown) => port.postMessage({ t: 'failed', error: toWireError(e) }),
);
