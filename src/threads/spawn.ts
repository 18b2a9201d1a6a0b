// Starting a worker thread from a module next to the caller, in production (dist/*.js) and in
// development and tests (src/*.ts run through tsx). Node 20 does not apply `--import tsx` from a
// worker's execArgv to the worker's entry module, so a .ts entry is started by a one-line
// bootstrap that registers tsx's loader first and then imports the entry.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { Channel, Message } from './channel.js';
import { PtimError, type ErrorCode, type Problem } from '../errors.js';
import { THREAD_RESOURCE_LIMITS } from './heap.js';

/** `name` (without extension) as a sibling module of `fromUrl`, with the caller's own extension. */
export function siblingModule(fromUrl: string, name: string): URL {
  const ext = fromUrl.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, fromUrl);
}

function tsxApiUrl(): string {
  const meta = import.meta as ImportMeta & { resolve?: (s: string) => string };
  try {
    if (typeof meta.resolve === 'function') return meta.resolve('tsx/esm/api');
  } catch {
    // fall through: some test runners do not provide import.meta.resolve
  }
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
  return pathToFileURL(path.join(path.dirname(pkg), 'dist/esm/api/index.mjs')).href;
}

/** Starts `entry` as a worker thread with the bridge's heap limits (THREAD_RESOURCE_LIMITS). */
export function spawnThread(entry: URL, given: WorkerOptions = {}): Worker {
  const options: WorkerOptions = { resourceLimits: THREAD_RESOURCE_LIMITS, ...given };
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);
  const code =
    `import(${JSON.stringify(tsxApiUrl())}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })` +
    `.catch((e) => { setImmediate(() => { throw e; }); });`;
  return new Worker(code, { ...options, eval: true });
}

/** A PtimError as it crosses a thread boundary (structured clone keeps no class). */
export interface WireError {
  readonly code?: ErrorCode;
  readonly message: string;
  readonly problems?: readonly Problem[];
}

export function toWireError(e: unknown): WireError {
  if (e instanceof PtimError) return { code: e.code, message: e.message, problems: e.problems };
  return { message: (e as Error)?.message ?? String(e) };
}

export function fromWireError(w: WireError, fallback: ErrorCode): PtimError {
  return new PtimError(w.code ?? fallback, w.message, w.problems ?? []);
}

/** The first of `types` the thread posts; rejects if the thread dies before posting one. */
export function firstMessage(worker: Worker, channel: Channel, types: readonly string[]): Promise<Message> {
  return new Promise((resolve, reject) => {
    for (const t of types) channel.on(t, resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`thread exited (code ${code}) before it was ready`)));
  });
}
