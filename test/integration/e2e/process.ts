// The bridge as the operator runs it (`ptim-bridge serve -c <file>`), in a child process, for the
// tests that need a real SIGKILL or SIGTERM: start it, read its metrics and readiness over the
// ops port, signal it, and see how it ended.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { parseExposition, waitFor } from './harness.js';

const repo = new URL('../../../', import.meta.url).pathname;

export interface BridgeProcess {
  readonly child: ChildProcess;
  /** Its log (at the configured level) and stderr, the last 1 MB. */
  log(): string;
  /** Sum of a metric's series (all labels) from /metrics. */
  metric(name: string): Promise<number>;
  readyz(): Promise<{ status: number; body: unknown }>;
  /** Resolves with the exit code (null when a signal ended it) and the signal. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs it if it still runs (afterAll). */
  dispose(): Promise<void>;
}

export async function startBridgeProcess(configFile: string, opsPort: number): Promise<BridgeProcess> {
  let log = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve', '-c', configFile], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The log (stdout) and start-up errors (stderr), up to 1 MB.
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-1_000_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const base = `http://127.0.0.1:${opsPort}`;
  const handle: BridgeProcess = {
    child,
    log: () => log,
    async metric(name) {
      const text = await scrape(`${base}/metrics`);
      let n = 0;
      for (const [k, v] of parseExposition(text)) if (k === name || k.startsWith(`${name}{`)) n += v;
      return n;
    },
    async readyz() {
      const r = await fetch(`${base}/readyz`);
      return { status: r.status, body: await r.json() };
    },
    exited: () => exit,
    async dispose() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exit;
      }
    },
  };
  let last = 'no answer';
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`bridge exited (${child.exitCode}): ${log.slice(-4000)}`);
      try {
        const r = await fetch(`${base}/readyz`);
        last = await r.text();
        return r.status === 200;
      } catch {
        return false;
      }
    },
    { timeoutMs: 90_000, what: 'the bridge process to be ready', intervalMs: 50 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}; last /readyz: ${last}; log: ${log.slice(-4000)}`);
  });
  return handle;
}

/**
 * GET with one retry: a keep-alive connection the bridge closed just as it was reused fails with
 * ECONNRESET (seen on a busy host); that is the test's connection, not the bridge failing.
 */
async function scrape(url: string): Promise<string> {
  try {
    return await (await fetch(url)).text();
  } catch {
    return (await fetch(url)).text();
  }
}

/** A whole bridge process per test, restarts included: on a busy host its waits get a minute. */
export const waitLong: typeof waitFor = (cond, opts = {}) => waitFor(cond, { timeoutMs: 60_000, ...opts });
