// The session journal's costs: (1) appending VPN events in batches (encode + CRC-32 + one write,
// with and without fdatasync), per event; (2) replay: reopening a journal (checksum scan) and
// reading every event back, events/s; (3) the session engine against a private redis-server with
// and without the journal in front, paced like a login storm and saturated: events/s and CPU per event.
// Run: npm run bench:journal   (EVENTS=50000 to change the size)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { defaultConfig } from '../src/config/schema.js';
import { silentLogger } from '../src/log.js';
import { createMetrics } from '../src/ops/metrics.js';
import { createSessionEngine, type EngineFront } from '../src/sessions/engine.js';
import { JournalStore } from '../src/sessions/journal-store.js';
import { openJournaledEngine } from '../src/sessions/journaled.js';
import type { VpnEvent } from '../src/types.js';
import { startRedis } from '../test/helpers/redis.js';

const EVENTS = Number(process.env.EVENTS ?? 50_000);
const root = mkdtempSync(join(tmpdir(), 'ptim-bench-journal-'));
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const secsSince = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e9;

function event(i: number, now: number): VpnEvent {
  return {
    kind: i % 4 === 3 ? 'down' : 'up',
    user: `user${i % 5000}`,
    domain: 'example.com',
    ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
    firewall: 'srx1600-edge',
    vpn: 'ra-vpn',
    gateway: 'ra-gw',
    peerIp: '198.51.100.77',
    tunnelId: String(131072 + (i % 1000)),
    patternId: 'junos-iked-vpn-up',
    receivedAt: now,
  };
}
// What the journal layer writes per event (journaled.ts): the event and its correlation id.
const payload = (i: number) => Buffer.from(JSON.stringify({ e: event(i, 1_700_000_000_000 + i), c: `k3x9a2-${i.toString(36)}` }));

async function appendCost(batch: number, fsync: boolean): Promise<string> {
  const dir = join(root, `append-${batch}-${fsync}`);
  const { store } = await JournalStore.open({ dir, maxBytes: 1 << 30, fsync });
  const n = fsync && batch < 100 ? Math.min(EVENTS, 2000) : EVENTS;
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i += batch) {
    const events = [];
    for (let k = i; k < Math.min(n, i + batch); k++) events.push({ id: store.allocate(), payload: payload(k) });
    await store.append(events);
  }
  const s = secsSince(t);
  const bytes = store.bytes();
  await store.close();
  return `append batch ${String(batch).padStart(4)}, fsync ${fsync ? 'on ' : 'off'}: ${fmt((s / n) * 1e6, 2)} µs/event (${fmt(n / s)} events/s, ${fmt(bytes / n)} B/event, ${fmt(n)} events)`;
}

async function replaySpeed(): Promise<string> {
  const dir = join(root, 'append-100-false');
  const t = process.hrtime.bigint();
  const { store } = await JournalStore.open({ dir, maxBytes: 1 << 30, fsync: false });
  const openSecs = secsSince(t);
  let after = store.ackedThrough();
  let n = 0;
  for (let part = store.read(after, 128); part.length > 0; part = store.read(after, 128)) {
    for (const e of part) JSON.parse(e.payload.toString('utf8'));
    n += part.length;
    after = part.at(-1)!.id;
  }
  const s = secsSince(t);
  await store.close();
  return `replay: open + checksum scan ${fmt(openSecs * 1000, 1)} ms, read + decode ${fmt(n)} events at ${fmt(n / s)} events/s (${fmt(s * 1000)} ms)`;
}

interface EngineRun {
  /** events/s */
  rate: number;
  /** process CPU (user + system) per event, µs */
  cpuUs: number;
  /** events the journal wrote */
  written: number;
}

/** Submits EVENTS events, `perTick` every `tickMs` (0: as fast as the engine takes them), and drains. */
async function engineRun(
  redis: Redis,
  keyPrefix: string,
  journalDir: string | undefined,
  perTick: number,
  tickMs: number,
): Promise<EngineRun> {
  const now = 1_700_000_000_000;
  const metrics = createMetrics();
  const cfg = { ...defaultConfig().sessions, bufferMaxEvents: 10_000, journalDir: journalDir ?? '' };
  const inner = createSessionEngine({ redis, cfg, keyPrefix, metrics, logger: silentLogger, clock: { now: () => now } });
  let engine: EngineFront = inner;
  if (journalDir) {
    const j = await openJournaledEngine(inner, cfg, { metrics, logger: silentLogger, clock: { now: () => now } });
    j.start();
    engine = j;
  }
  const cpu0 = process.cpuUsage();
  const t = process.hrtime.bigint();
  for (let i = 0; i < EVENTS; i++) {
    engine.submit(event(i, now + i), `c${i}`);
    // Lines arrive over sockets, not in one synchronous burst.
    if (i % perTick === perTick - 1) await new Promise((r) => (tickMs ? setTimeout(r, tickMs) : setImmediate(r)));
  }
  await engine.drain();
  const s = secsSince(t);
  const cpu = process.cpuUsage(cpu0);
  await engine.close();
  const written = (await metrics.journalWritten.get()).values[0]?.value ?? 0;
  return { rate: EVENTS / s, cpuUs: (cpu.user + cpu.system) / EVENTS, written };
}

const describeRun = (r: EngineRun) => `${fmt(r.rate)} events/s, ${fmt(r.cpuUs, 1)} µs CPU/event`;

try {
  console.log(`session journal bench (${fmt(EVENTS)} events, ~${payload(1).length} B payload per event)`);
  for (const fsync of [false, true]) {
    for (const batch of [1, 10, 100, 1000]) console.log(await appendCost(batch, fsync));
  }
  console.log(await replaySpeed());
  const server = await startRedis();
  const redis = new Redis(server.url);
  try {
    for (let run = 1; run <= 2; run++) {
      // Paced like a login storm (500 events every 100 ms = 5,000/s): Redis keeps up.
      const plain = await engineRun(redis, `${server.keyPrefix}p${run}`, undefined, 500, 100);
      const journaled = await engineRun(redis, `${server.keyPrefix}j${run}`, join(root, `paced-${run}`), 500, 100);
      console.log(
        `engine, 5,000 events/s, run ${run}: without journal ${describeRun(plain)}; with journal ${describeRun(journaled)}, ${fmt(journaled.written)} of ${fmt(EVENTS)} events written`,
      );
    }
    for (let run = 1; run <= 2; run++) {
      // Saturated: events come faster than Redis applies them, so most are journaled.
      const plain = await engineRun(redis, `${server.keyPrefix}sp${run}`, undefined, 500, 0);
      const journaled = await engineRun(redis, `${server.keyPrefix}sj${run}`, join(root, `sat-${run}`), 500, 0);
      console.log(
        `engine, saturated, run ${run}: without journal ${describeRun(plain)}; with journal ${describeRun(journaled)}, ${fmt(journaled.written)} of ${fmt(EVENTS)} events written`,
      );
    }
  } finally {
    redis.disconnect();
    await server.stop();
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
