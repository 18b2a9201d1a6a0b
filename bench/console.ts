// The console's costs: session search and paging over many sessions (default 500,000) written
// straight into a private redis-server, the Redis memory of the per-IP history at its default
// size, and what recording costs the ingest path (one record() call).
// Run: node --import tsx bench/console.ts [--sessions 500000] [--history-ips 2000] [--entries 20]
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { searchSessions, type SessionSearch } from '../src/console/search.js';
import { startPrivateRedis } from '../src/demo/redis-server.js';
import { HISTORY_TEXT_CHARS } from '../src/history/entries.js';
import { createHistoryRecorder, historyKeys } from '../src/history/recorder.js';
import { silentLogger } from '../src/log.js';
import { createMetrics } from '../src/ops/metrics.js';
import { vpnLine } from '../src/demo/lines.js';
import { seedSessions } from '../test/integration/console/seed.js';
import { numberFlag } from './lib.js';

const SESSIONS = numberFlag('sessions', 500_000);
const HISTORY_IPS = numberFlag('history-ips', 2000);
const ENTRIES = numberFlag('entries', 12);
const PREFIX = 'bench';
const say = (s: string) => process.stdout.write(`${s}\n`);
const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)} ms`;

async function timeSearch(redis: Redis, what: string, s: SessionSearch) {
  const times: number[] = [];
  let last;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    last = await searchSessions(redis, PREFIX, s);
    times.push(performance.now() - t);
  }
  say(
    `  ${what.padEnd(52)} ${range(times).padStart(16)}  (${last!.sessions.length} rows, ${last!.scanned} scanned, next ${last!.nextCursor})`,
  );
}

async function historyMemory(redis: Redis) {
  const clock = { now: () => Date.now() };
  const rec = createHistoryRecorder({
    redis,
    keyPrefix: PREFIX,
    cfg: { maxEntriesPerIp: ENTRIES, ttlSecs: 86400 },
    metrics: createMetrics(),
    logger: silentLogger,
    clock,
  });
  const text = vpnLine({ kind: 'up', user: 'someone.long-name', ip: '10.1.2.3' }).slice(0, HISTORY_TEXT_CHARS);
  let recordNs = 0;
  let writeNs = 0;
  let calls = 0;
  for (let round = 0; round < ENTRIES; round += 3) {
    // CPU time, not wall time: on a shared host the wall clock also counts other processes' turns.
    const t = process.cpuUsage();
    for (let i = 0; i < HISTORY_IPS; i++) {
      const ip = `172.16.${i >> 8}.${i & 255}`;
      const base = { at: clock.now(), correlationId: 'k3x9a1b2-1f3e' };
      rec.record(ip, {
        ...base,
        type: 'line',
        kind: 'up',
        user: 'someone.long-name',
        firewall: 'srx-edge-1',
        patternId: 'iked-vpn-up',
        transport: 'udp',
        sourceIp: '10.0.0.1',
        text,
      });
      rec.record(ip, { ...base, type: 'decision', decision: 'rekey', user: 'someone.long-name', seq: round, emitted: ['rekey'] });
      rec.record(ip, {
        ...base,
        type: 'push',
        jobId: `${ip}-${round}`,
        kind: 'rekey',
        seq: round,
        attempt: 1,
        outcome: 'delivered',
        detail: 'HTTP 200 from primary',
      });
      calls += 3;
    }
    const used = process.cpuUsage(t);
    recordNs += (used.user + used.system) * 1000;
    const w = process.cpuUsage();
    await rec.flush();
    const written = process.cpuUsage(w);
    writeNs += (written.user + written.system) * 1000;
  }
  let bytes = 0;
  for (let i = 0; i < HISTORY_IPS; i++)
    bytes += Number(await redis.call('MEMORY', 'USAGE', historyKeys(PREFIX).ip(`172.16.${i >> 8}.${i & 255}`), 'SAMPLES', '0'));
  const perIp = bytes / HISTORY_IPS;
  say(`history: ${ENTRIES} entries per IP (lines cut at ${HISTORY_TEXT_CHARS} chars, decisions, pushes) over ${HISTORY_IPS} IPs`);
  say(
    `  Redis memory per IP ${(perIp / 1024).toFixed(1)} KiB (${(perIp / ENTRIES).toFixed(0)} B per entry); 500,000 IPs ≈ ${((perIp * 500_000) / 2 ** 30).toFixed(2)} GiB, 10,000 IPs ≈ ${((perIp * 10_000) / 2 ** 20).toFixed(0)} MiB`,
  );
  say(
    `  record() on the ingest path: ${(recordNs / calls).toFixed(0)} ns CPU per entry, building the entry included (buffered; written every 200 ms); the write: ${(writeNs / calls).toFixed(0)} ns CPU per entry in the bridge`,
  );
}

const server = await startPrivateRedis({ appendonly: false });
const redis = new Redis(server.url);
try {
  let t = performance.now();
  await seedSessions(redis, PREFIX, SESSIONS);
  const info = await redis.info('memory');
  say(
    `seeded ${SESSIONS} sessions in ${((performance.now() - t) / 1000).toFixed(1)} s; Redis used_memory ${info.match(/used_memory_human:(\S+)/)?.[1]}`,
  );
  say('session search (5 runs each, min–max):');
  await timeSearch(redis, 'first page, 50 newest', { limit: 50 });
  await timeSearch(redis, 'page at the middle (cursor N/2)', { limit: 50, cursor: Math.floor(SESSIONS / 2) });
  await timeSearch(redis, 'whole IP (direct lookup)', { q: '10.3.13.64', field: 'ip' });
  await timeSearch(redis, 'user "user4" (common: page fills at once)', { q: 'user4', field: 'user', limit: 50 });
  await timeSearch(redis, 'firewall "fw-rare" (1 in 10,000)', { q: 'fw-rare', field: 'firewall', limit: 50 });
  await timeSearch(redis, 'no match at all (stops at the scan budget)', { q: 'nobody', limit: 50 });
  t = performance.now();
  await historyMemory(redis);
} finally {
  redis.disconnect();
  await server.stop();
}
