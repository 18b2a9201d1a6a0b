// Hot reload of the pattern library: on a file change in the pattern dirs (debounced) and on an
// explicit reload() (the app calls it on SIGHUP). Only a library that loads and passes its
// self-test replaces the running one; a failing edit is logged with every problem and the old
// library keeps working. With the threaded ingest the library is loaded in the matcher thread and
// the reloader sees a summary of it (ids, warnings, prefilter literals): the same decisions apply.
import { watch, type FSWatcher } from 'node:fs';
import { formatProblem, PtimError, type Problem } from '../errors.js';
import { createEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { systemClock, type Clock } from '../types.js';
import { loadLibrary, type Library } from './library.js';

/** What the reloader reads from a loaded library: a Library, or a thread's summary of one. */
export interface LoadedLibrary {
  readonly patterns: readonly { readonly id: string; readonly enabled: boolean }[];
  readonly warnings: readonly Problem[];
}

export interface LibraryReloaderOptions<L extends LoadedLibrary = Library> {
  readonly dirs: readonly string[];
  /** patterns.watch: reload on file change (SIGHUP → reload() works either way). */
  readonly watch: boolean;
  readonly onLibrary: (library: L) => void;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** For the log rate of watch failures. */
  readonly clock?: Clock;
  /** Editors write a file in several steps; wait for quiet before reloading. */
  readonly debounceMs?: number;
  /** The loader: loadLibrary by default; with threaded ingest, the main thread's load installed in the matcher thread. */
  readonly load?: (dirs: readonly string[]) => Promise<L>;
}

export interface LibraryReloader {
  /** Loads and, when valid, installs the library. Resolves true when it was installed. */
  reload(): Promise<boolean>;
  close(): void;
}

export function createLibraryReloader<L extends LoadedLibrary = Library>(opts: LibraryReloaderOptions<L>): LibraryReloader {
  const { dirs, logger, metrics } = opts;
  const load = opts.load ?? ((d: readonly string[]) => loadLibrary(d) as unknown as Promise<L>);
  const debounceMs = opts.debounceMs ?? 250;
  const clock = opts.clock ?? systemClock;
  const emit = createEvents({ metrics, logger, now: () => clock.now() });
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  // Reloads run one at a time; requests during a run share exactly one follow-up run (the
  // files may have changed after the running load read them).
  let running: Promise<boolean> | undefined;
  let pending: Promise<boolean> | undefined;

  async function loadOnce(): Promise<boolean> {
    try {
      const lib = await load(dirs);
      if (closed) return false;
      opts.onLibrary(lib);
      metrics.patternReloads.inc({ result: 'ok' });
      logger.info(
        { patterns: lib.patterns.filter((p) => p.enabled).map((p) => p.id), warnings: lib.warnings.map(formatProblem) },
        'pattern library loaded',
      );
      return true;
    } catch (e) {
      metrics.patternReloads.inc({ result: 'failed' });
      const problems = e instanceof PtimError ? e.problems.map(formatProblem) : [String(e)];
      logger.error(
        { code: e instanceof PtimError ? e.code : undefined, problems },
        'pattern library reload failed; the running library stays',
      );
      return false;
    }
  }

  function reload(): Promise<boolean> {
    if (!running) {
      running = loadOnce().finally(() => {
        running = undefined;
      });
      return running;
    }
    pending ??= running.then(() => {
      pending = undefined;
      return reload();
    });
    return pending;
  }

  if (opts.watch) {
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (name && !/\.ya?ml$/i.test(String(name))) return;
          clearTimeout(timer);
          timer = setTimeout(() => void reload(), debounceMs);
        });
        w.on('error', (err) => emit('pattern_watch_failed', { err, dir }));
        watchers.push(w);
      } catch (err) {
        emit('pattern_watch_failed', { err, dir });
      }
    }
  }

  return {
    reload,
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
