// The heaps of the bridge's three V8 isolates (main, receive, matcher thread). Left to V8's
// defaults on a host with gigabytes of memory, each one lets its young generation grow to 48 MB and
// its old generation grow up to 4× what survived the last full collection before collecting again:
// a login storm then costs hundreds of MB of garbage nobody holds. The README ("Memory") gives the
// figures these settings were chosen by.
import { setFlagsFromString } from 'node:v8';
import type { ResourceLimits } from 'node:worker_threads';

/**
 * Worker threads' heaps: a thread's objects live for one batch, so a 12 MB young generation (4 MB
 * semi-spaces) collects them young. No old-generation cap: a cap would end the thread when reached.
 */
export const THREAD_RESOURCE_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 12 };

/**
 * What the shipped start command (Dockerfile, `npm start`) gives node: the main thread's young
 * generation cannot be set once the process runs. 2 MB semi-spaces: the main thread's objects
 * either die within a Redis round trip or live for seconds in a backlog (promoted either way).
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/**
 * What the shipped start command puts in node's environment. glibc gives each thread that
 * allocates its own malloc arena (up to 8 per core), and each arena keeps memory freed by its
 * thread: the bridge's three JavaScript threads, V8's GC helpers and libuv's pool then hold several
 * arenas' worth of freed buffers. Two arenas: a storm's peak RSS 10–17 MB lower in the storm bench,
 * CPU per event and the mixed bench's received ratios within run-to-run noise.
 */
export const SERVE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/**
 * Each old generation grows at most this % past what survived a full collection before the next
 * (V8 allows up to 300 % here). 100: about half the storm peak of V8's own choice, for about 5 %
 * more CPU per event; 50 saved another 15 MB for 15 % more CPU and a slower drain.
 */
export const HEAP_GROWING_PERCENT = 100;

/** Applies HEAP_GROWING_PERCENT to every isolate of the process (V8 reads it at each collection). */
export function applyHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
