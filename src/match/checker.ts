// The checker process: one child that runs recheck's analyses, one at a time, and exits when it
// has been idle for a moment. recheck's own `check()` starts an agent per concurrent call on
// first use and keeps them all for the life of the process (we saw 34 of them, 340 MB beside a
// 77 MB bridge); here there is at most one, and only while there is something to prove.
//
// The child is recheck's native binary in its `agent` mode (JSON lines on stdin/stdout). Where
// recheck ships no native binary for the platform, it is `node` running recheck's pure
// JavaScript implementation behind the same protocol. recheck's JVM jar is never used (the
// image carries no Java), so it is not needed at run time.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Diagnostics, Parameters } from 'recheck';

const require = createRequire(import.meta.url);

/** recheck's version: part of every verdict's key. */
export const RECHECK_VERSION = (require('recheck/package.json') as { version: string }).version;

export interface CheckerProcess {
  /** Runs one analysis in the child (started on demand); calls are queued and run serially. */
  run(source: string, flags: string, params: Parameters): Promise<Diagnostics>;
  /** The running child's pid, if one runs (for benches and tests). */
  pid(): number | undefined;
  /** Stops the child; queued and running analyses reject. */
  close(): void;
}

export interface CheckerOptions {
  /** The child exits after this long without work. */
  readonly idleExitMs?: number;
  /** Extra time past recheck's own `timeout` before the child is presumed stuck and killed. */
  readonly graceMs?: number;
  /** The command to run (default: see `checkerCommand`). */
  readonly command?: readonly string[];
}

/** The pure-JavaScript agent: same protocol as `recheck agent`, run by `node -e`. */
const PURE_AGENT = `
process.env.RECHECK_BACKEND = 'pure';
const { check } = require(process.argv[1]);
let buf = '';
let chain = Promise.resolve();
process.stdin.on('data', (d) => {
  const lines = (buf + d).split('\\n');
  buf = lines.pop();
  for (const line of lines) {
    if (!line) continue;
    const req = JSON.parse(line);
    chain = chain.then(async () => {
      const result = await check(req.params.source, req.params.flags, req.params.params);
      process.stdout.write(JSON.stringify({ jsonrpc: '2.0+push', id: req.id, result }) + '\\n');
    });
  }
});
`;

/** `RECHECK_BIN agent`, else recheck's native binary for this platform, else node + pure JS. */
export function checkerCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.RECHECK_BIN) return [env.RECHECK_BIN, 'agent'];
  const os = ({ darwin: 'macos', linux: 'linux', win32: 'windows' } as Record<string, string>)[process.platform];
  try {
    const dir = path.dirname(require.resolve(`recheck-${os}-${process.arch}/package.json`));
    const bin = path.join(dir, process.platform === 'win32' ? 'recheck.exe' : 'recheck');
    if (existsSync(bin)) return [bin, 'agent'];
  } catch {
    // no native binary for this platform: fall through to the pure implementation
  }
  return pureAgentCommand();
}

/** `node` running recheck's pure JavaScript implementation behind the agent protocol. */
export function pureAgentCommand(): string[] {
  return [process.execPath, '-e', PURE_AGENT, require.resolve('recheck')];
}

type Agent = ChildProcessByStdio<Writable, Readable, null>;

interface Pending {
  readonly id: number;
  readonly resolve: (d: Diagnostics) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Splits the child's stdout into lines and hands each parsed response to `onResponse`. */
function readResponses(child: Agent, onResponse: (id: number, result: Diagnostics) => void): void {
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (buf + chunk).split('\n');
    buf = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        const msg = JSON.parse(line) as { id?: number; result?: Diagnostics };
        if (typeof msg.id === 'number' && msg.result) onResponse(msg.id, msg.result);
      } catch {
        // not a response (a log line of the agent): ignore
      }
    }
  });
}

/** Starts the agent; `onGone` is told when it exits or cannot start. */
function spawnAgent(
  command: readonly string[],
  onResponse: (id: number, result: Diagnostics) => void,
  onGone: (e?: Error) => void,
): Agent {
  const c = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'ignore'], windowsHide: true });
  readResponses(c, onResponse);
  c.on('error', onGone);
  c.on('exit', () => onGone());
  c.stdin.on('error', () => {}); // a write to a child that died: reported by 'exit'
  return c;
}

/** One `check` request line of recheck's agent protocol. */
function checkRequest(id: number, source: string, flags: string, params: Parameters): string {
  return `${JSON.stringify({ jsonrpc: '2.0+push', id, method: 'check', params: { source, flags, params } })}\n`;
}

/** How long an answer may take: recheck's own timeout (10 s unless given) plus `graceMs`. */
const answerBudgetMs = (params: Parameters, graceMs: number) =>
  (typeof params.timeout === 'number' ? params.timeout : 10_000) + graceMs;

export function createCheckerProcess(opts: CheckerOptions = {}): CheckerProcess {
  const idleExitMs = opts.idleExitMs ?? 2000;
  const graceMs = opts.graceMs ?? 10_000;
  const command = opts.command ?? checkerCommand();
  let child: Agent | undefined;
  let current: Pending | undefined;
  let nextId = 0;
  let queued = 0;
  let chain: Promise<unknown> = Promise.resolve();
  let idleTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const stop = () => {
    clearTimeout(idleTimer);
    const c = child;
    child = undefined;
    c?.stdin.end();
    c?.kill();
  };

  const start = (): Agent => {
    const c = spawnAgent(
      command,
      (id, result) => {
        if (current?.id !== id) return;
        clearTimeout(current.timer);
        current.resolve(result);
      },
      (e) => {
        if (child === c) child = undefined;
        if (current) {
          clearTimeout(current.timer);
          current.reject(e ?? new Error(`checker process exited (${command[0]})`));
        }
      },
    );
    return c;
  };

  const runOne = (source: string, flags: string, params: Parameters) =>
    new Promise<Diagnostics>((resolve, reject) => {
      if (closed) return reject(new Error('checker closed'));
      clearTimeout(idleTimer);
      child ??= start();
      child.ref();
      const id = nextId++;
      const budget = answerBudgetMs(params, graceMs);
      const timer = setTimeout(() => {
        // recheck did not answer within its own timeout: presume it stuck, start afresh next time.
        stop();
        reject(new Error('checker did not answer in time'));
      }, budget);
      current = { id, resolve, reject, timer };
      child.stdin.write(checkRequest(id, source, flags, params));
    }).finally(() => {
      current = undefined;
    });

  return {
    run(source, flags, params) {
      queued++;
      const p = chain.then(() => runOne(source, flags, params));
      chain = p
        .catch(() => undefined)
        .finally(() => {
          if (--queued > 0 || !child) return;
          child.unref();
          idleTimer = setTimeout(stop, idleExitMs);
          idleTimer.unref();
        });
      return p;
    },
    pid: () => child?.pid,
    close() {
      closed = true;
      stop();
    },
  };
}
