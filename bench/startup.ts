// How fast `serve` starts, as an operator starts it: the built bridge (`node dist/main.js serve`)
// in its own process with a private redis-server, timed from spawn to "listeners bound" (its
// `ptim-bridge started` log line) and to the first `/readyz` 200. Idle and with two `yes`
// burners this bench starts itself; first start and restart; with the shipped library and with
// one new operator pattern (whose proof runs in the background: its duration and the checker
// process's RSS are reported too). `check` is timed on the shipped library.
//
//   npm run bench:startup [-- --runs 3]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort, startPrivateRedis, type PrivateRedis } from '../src/demo/redis-server.js';
import { SERVE_ENV, SERVE_NODE_FLAGS } from '../src/threads/heap.js';
import { numberFlag } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = path.join(ROOT, 'dist/main.js');
const RUNS = numberFlag('runs', 3);
/** Give up on a start after this long (a figure, not a pass/fail). */
const START_LIMIT_MS = 60_000;

const NEW_PATTERN = `patterns:
  - id: site-vpn-up
    description: a site's own UP line (new operator pattern, not proven yet)
    kind: up
    tags: [KMD_VPN_UP_ALARM_USER]
    match: [SITE-VPN-UP]
    regex: '^SITE-VPN-UP\\ user=(?<user>[a-z]+)\\ ip=(?<ip>[0-9.]+)$'
    examples:
      - line: '<30>Mar  3 14:02:11 fw kmd[1]: KMD_VPN_UP_ALARM_USER: SITE-VPN-UP user=alice ip=192.0.2.1'
        fields: { user: alice, ip: 192.0.2.1 }
`;

interface Start {
  listenersMs: number;
  readyMs: number;
  /** Background proofs until `ptim_pattern_proofs_pending` is 0 (ms after launch), if any were pending. */
  provenMs?: number;
  bridgeRssMb: number;
  /** CPU time (user + system) the bridge spent until ready: what start-up costs, whatever the load. */
  cpuMs: number;
  /** Largest RSS of a checker child seen while proving. */
  checkerRssMb?: number;
}

const rssMb = (pid: number): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
};
/** utime + stime of a process, ms (clock ticks of 10 ms on Linux). */
const cpuMsOf = (pid: number): number => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
};
const childrenOf = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const tick = () => new Promise((r) => setTimeout(r, 10));

async function get(url: string): Promise<{ status: number; text: string } | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return { status: r.status, text: await r.text() };
  } catch {
    return undefined;
  }
}

function writeConfig(dir: string, redis: PrivateRedis, patternsDir: string, ports: { udp: number; ops: number }): string {
  const file = path.join(dir, 'config.yaml');
  writeFileSync(
    file,
    [
      'ingest:',
      `  udp: { bind: ['127.0.0.1'], port: ${ports.udp} }`,
      '  tcp: { enabled: false }',
      "  allowedSources: ['127.0.0.0/8']",
      `patterns: { dirs: ['${patternsDir}'], watch: false, verdictCacheFile: '${path.join(dir, 'verdicts-cache.json')}' }`,
      `redis: { url: '${redis.url}' }`,
      `ops: { enabled: true, host: 127.0.0.1, port: ${ports.ops} }`,
      'log: { level: info }',
    ].join('\n'),
  );
  return file;
}

/** One `serve` from launch to ready (and to proofs done), then SIGTERM. */
async function startOnce(config: string, opsPort: number): Promise<Start> {
  const t0 = performance.now();
  // Started as the shipped start command starts it: its node flags and environment.
  const child: ChildProcess = spawn(process.execPath, [...SERVE_NODE_FLAGS, MAIN, 'serve', '-c', config], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...SERVE_ENV },
  });
  let listenersMs: number | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (listenersMs === undefined && line.includes('"ptim-bridge started"')) listenersMs = performance.now() - t0;
  });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    let readyMs: number | undefined;
    let provenMs: number | undefined;
    let checkerRss = 0;
    let sawPending = false;
    let cpuMs = 0;
    while (performance.now() - t0 < START_LIMIT_MS) {
      for (const c of childrenOf(child.pid!)) checkerRss = Math.max(checkerRss, rssMb(c));
      if (readyMs === undefined && (await get(`http://127.0.0.1:${opsPort}/readyz`))?.status === 200) {
        readyMs = performance.now() - t0;
        cpuMs = cpuMsOf(child.pid!);
      }
      // The log line can arrive after the first 200: /readyz answers as soon as the listeners are bound.
      if (readyMs !== undefined && listenersMs !== undefined) {
        const metrics = (await get(`http://127.0.0.1:${opsPort}/metrics`))?.text ?? '';
        const pending = Number(/^ptim_pattern_proofs_pending (\S+)$/m.exec(metrics)?.[1] ?? 'NaN');
        if (pending > 0) sawPending = true;
        if (pending === 0) {
          if (sawPending) provenMs = performance.now() - t0;
          break;
        }
      }
      await tick();
    }
    if (readyMs === undefined || listenersMs === undefined)
      throw new Error(`serve did not become ready within ${START_LIMIT_MS} ms`);
    return {
      listenersMs,
      readyMs,
      ...(provenMs !== undefined ? { provenMs } : {}),
      bridgeRssMb: rssMb(child.pid!),
      cpuMs,
      ...(checkerRss ? { checkerRssMb: checkerRss } : {}),
    };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** A private Redis and cache per scenario: its first start finds nothing, its restart finds what the first stored. */
async function scenario(name: string, withNewPattern: boolean): Promise<{ name: string; first: Start[]; restart: Start[] }> {
  const first: Start[] = [];
  const restart: Start[] = [];
  for (let i = 0; i < RUNS; i++) {
    const dir = mkdtempSync(path.join(tmpdir(), 'ptim-bench-startup-'));
    const redis = await startPrivateRedis({ appendonly: false });
    try {
      const patternsDir = path.join(dir, 'patterns');
      cpSync(path.join(ROOT, 'patterns'), patternsDir, { recursive: true });
      if (withNewPattern) writeFileSync(path.join(patternsDir, '30-site.yaml'), NEW_PATTERN);
      const ports = { udp: await freePort(), ops: await freePort() };
      const config = writeConfig(dir, redis, patternsDir, ports);
      first.push(await startOnce(config, ports.ops));
      restart.push(await startOnce(config, ports.ops));
    } finally {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { name, first, restart };
}

function timeCheck(): number[] {
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, [MAIN, 'check'], { cwd: ROOT, stdio: 'ignore' });
    out.push(performance.now() - t0);
  }
  return out;
}

const range = (xs: readonly (number | undefined)[], digits = 0): string => {
  const v = xs.filter((x): x is number => x !== undefined);
  if (v.length === 0) return '—';
  const f = (x: number) => x.toFixed(digits);
  const [lo, hi] = [Math.min(...v), Math.max(...v)];
  return f(lo) === f(hi) ? f(lo) : `${f(lo)}–${f(hi)}`;
};

function report(load: string, results: Awaited<ReturnType<typeof scenario>>[], check: number[]): void {
  console.log(`\n== ${load} (${RUNS} run(s) each; ms from launch; load average ${loadavg()[0]!.toFixed(1)}) ==`);
  for (const r of results) {
    for (const [which, starts] of [
      ['first start', r.first],
      ['restart', r.restart],
    ] as const) {
      console.log(
        `${r.name.padEnd(34)} ${which.padEnd(11)} listeners ${range(starts.map((s) => s.listenersMs)).padEnd(11)} ` +
          `readyz 200 ${range(starts.map((s) => s.readyMs)).padEnd(11)} proofs done ${range(starts.map((s) => s.provenMs)).padEnd(11)} ` +
          `CPU ${range(starts.map((s) => s.cpuMs)).padEnd(9)} bridge RSS ${range(starts.map((s) => s.bridgeRssMb))} MB, checker RSS ${range(starts.map((s) => s.checkerRssMb))} MB`,
      );
    }
  }
  console.log(`${'check (shipped library)'.padEnd(34)} ${range(check)} ms`);
}

async function measure(load: string): Promise<void> {
  const results = [await scenario('shipped library', false), await scenario('shipped + one new operator pattern', true)];
  report(load, results, timeCheck());
}

console.log(`building dist/ (tsc) …`);
execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
  cwd: ROOT,
  stdio: 'inherit',
});
await measure('idle');
const burners = [0, 1].map(() => spawn('yes', [], { stdio: ['ignore', 'ignore', 'ignore'] }));
try {
  await measure('two `yes` burners running');
} finally {
  for (const b of burners) b.kill();
}
