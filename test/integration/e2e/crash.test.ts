// The bridge as the operator runs it (`ptim-bridge serve -c <file>`), SIGKILLed mid-stream while
// pushes to a slow JIMS are in flight, then restarted against the same Redis (AOF) and JIMS.
// Honest contract: every line the bridge had applied before the crash (its decisions are counted
// only after Redis applied them) must reach JIMS; lines sent after the restart as well.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SHIPPED_PATTERNS_DIR } from '../../../src/cli/demo.js';
import { sendLines } from '../../../src/cli/send.js';
import { freePort } from '../../helpers/redis.js';
import {
  CLIENT,
  orderViolations,
  sameTable,
  show,
  startRedis,
  startSim,
  tableOf,
  templateFile,
  truthOf,
  vpnLine,
  type LineSpec,
  type SimHandle,
  type TestRedis,
} from './harness.js';
import { startBridgeProcess, waitLong, type BridgeProcess } from './process.js';

let redis: TestRedis;
let jims: SimHandle;
let dir: string;
let configFile: string;
let tcpPort: number;
let opsPort: number;
let bridge: BridgeProcess | undefined;

beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
  jims = await startSim({ faults: { latencyMs: 60 } });
  dir = mkdtempSync(join(tmpdir(), 'ptim-crash-'));
  tcpPort = await freePort();
  opsPort = await freePort();
  configFile = join(dir, 'config.yaml');
  // JSON is YAML: the same file an operator would write.
  writeFileSync(
    configFile,
    JSON.stringify({
      ingest: {
        udp: { enabled: false },
        tcp: { bind: ['127.0.0.1'], port: tcpPort },
        allowedSources: ['127.0.0.0/8'],
      },
      patterns: { dirs: [SHIPPED_PATTERNS_DIR], watch: false },
      identity: { defaultDomain: 'example.com' },
      redis: { url: redis.url, keyPrefix: redis.keyPrefix },
      queue: { retryBaseDelaySecs: 0.01, retryMaxDelaySecs: 0.05, ipLockTtlSecs: 10, concurrency: 8 },
      jims: {
        primary: { host: '127.0.0.1', port: jims.port, scheme: 'http', ...CLIENT },
        requestTimeoutSecs: 5,
        push: { template: templateFile() },
      },
      ops: { host: '127.0.0.1', port: opsPort },
      log: { level: 'warn' },
    }),
  );
});

afterAll(async () => {
  await bridge?.dispose();
  await jims?.sim.close();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function startBridge(): Promise<void> {
  bridge = await startBridgeProcess(configFile, opsPort);
}

/** Session decisions the bridge reports: one per IP of a line, counted after Redis applied it. */
const decisions = () => bridge!.metric('ptim_session_decisions_total');

function lines(): LineSpec[] {
  const users = ['alice', 'bob', 'carol'];
  const out: LineSpec[] = [];
  for (let i = 0; i < 60; i++) {
    const ip = `198.51.100.${10 + (i % 8)}`;
    const user = users[(i * 7 + Math.floor(i / 8)) % 3]!;
    out.push({ kind: i % 5 === 4 ? 'down' : 'up', user: `${user}@example.com`, ip });
  }
  // A DOWN only logs off its own user: make each one name the IP's owner at that point.
  const owner = new Map<string, string>();
  for (const l of out) {
    if (l.kind === 'up') owner.set(l.ip, l.user);
    else if (owner.has(l.ip)) l.user = owner.get(l.ip)!;
  }
  return out;
}

const toLine = (l: LineSpec) => vpnLine({ kind: l.kind, user: l.user, ip: l.ip, tunnelId: 300 + Number(l.ip.split('.').pop()) });

it('SIGKILL mid-stream with pushes in flight, restart: JIMS ends with what the lines imply, never older after newer', async () => {
  const all = lines();
  const firstHalf = all.slice(0, 30);
  await startBridge();
  await sendLines(firstHalf.map(toLine), { host: '127.0.0.1', port: tcpPort, transport: 'tcp' });
  await waitLong(async () => (await decisions()) >= firstHalf.length, { what: 'the first 30 lines applied' });
  // JIMS answers in 60 ms, one push per IP at a time: most of the backlog is still to be pushed.
  const before = jims.sim.counters().pushes;
  bridge!.child.kill('SIGKILL');
  await bridge!.exited();
  expect(before).toBeLessThan(firstHalf.length);

  await startBridge();
  await sendLines(all.slice(30).map(toLine), { host: '127.0.0.1', port: tcpPort, transport: 'tcp' });
  await waitLong(async () => (await decisions()) >= all.length - 30, { what: 'the other 30 lines applied' });

  const truth = truthOf(all);
  await waitLong(() => sameTable(tableOf(jims.sim), truth), { timeoutMs: 150_000, what: 'JIMS table equal to the truth' }).catch(
    (e: Error) => {
      expect(show(tableOf(jims.sim)), `${e.message}\n${bridge!.log().slice(-4000)}`).toEqual(show(truth));
    },
  );
  expect(orderViolations(jims.sim.operations())).toEqual([]);
}, 240_000);
