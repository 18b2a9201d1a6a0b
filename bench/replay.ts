// Throughput of `replay`: a generated archive (95 % flow-log noise, VPN UP/DOWN lines for
// USERS users over the last 20 hours, BSD stamps) replayed as a dry run and into a private
// redis-server through the session engine; then replayed again (nothing to do).
// Run: node --import tsx bench/replay.ts   (LINES=200000 USERS=2000 to change the mix)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SHIPPED_PATTERNS_DIR } from '../src/cli/demo.js';
import { runReplay } from '../src/cli/replay.js';
import { configSchema } from '../src/config/schema.js';
import { flowLine, vpnLine } from '../src/demo/lines.js';
import { loadLibrary } from '../src/match/library.js';
import { systemClock } from '../src/types.js';
import { startRedis } from '../test/helpers/redis.js';

const LINES = Number(process.env.LINES ?? 200_000);
const USERS = Number(process.env.USERS ?? 2000);

const now = Date.now();
const bsd = (ms: number) => {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.toLocaleString('en-US', { month: 'short' })} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};
const lines: string[] = [];
let vpn = 0;
for (let i = 0; i < LINES; i++) {
  const at = now - 20 * 3600_000 + Math.floor((i / LINES) * 20 * 3600_000);
  if (i % 20 !== 0) {
    lines.push(flowLine(i));
    continue;
  }
  const u = vpn++ % USERS;
  const kind = Math.floor(vpn / USERS) % 3 === 2 ? 'down' : 'up';
  lines.push(vpnLine({ kind, user: `user${u}`, ip: `10.20.${u >> 8}.${u & 255}`, tunnelId: 1000 + u, time: bsd(at) }));
}
const dir = mkdtempSync(join(tmpdir(), 'ptim-bench-replay-'));
const file = join(dir, 'messages');
writeFileSync(file, `${lines.join('\n')}\n`);
const devNull = new Writable({ write: (_c, _e, cb) => cb() });
const library = await loadLibrary([SHIPPED_PATTERNS_DIR]);
const server = await startRedis();
const config = configSchema.parse({
  patterns: { dirs: [SHIPPED_PATTERNS_DIR] },
  redis: { url: server.url, keyPrefix: server.keyPrefix },
});
const run = async (name: string, dryRun: boolean) => {
  let summary = '';
  const out = new Writable({ write: (c: Buffer, _e, cb) => ((summary += c.toString()), cb()) });
  const t = performance.now();
  await runReplay(
    config,
    [file],
    dryRun ? devNull : out,
    dryRun ? out : devNull,
    { dryRun, json: dryRun },
    { clock: systemClock, library },
  );
  const s = (performance.now() - t) / 1000;
  const events = /; (\d+) VPN event/.exec(summary)?.[1] ?? '?';
  console.log(
    `${name.padEnd(26)} ${s.toFixed(1).padStart(5)} s  ${Math.round(LINES / s)
      .toLocaleString('en-US')
      .padStart(9)} lines/s  ${events} events replayed`,
  );
};
try {
  console.log(`${LINES.toLocaleString('en-US')} lines, ${vpn} VPN lines, ${USERS} users`);
  await run('--dry-run --json', true);
  await run('into Redis (engine)', false);
  await run('again (already replayed)', false);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
