// `replay` at cut-over: an archive (plain and gzip) through the real pipeline and session engine
// into a private Redis, in order and at device time; a second run changes nothing; --dry-run
// writes nothing and prints what JIMS would hear.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { runReplay } from '../../../src/cli/replay.js';
import { SHIPPED_PATTERNS_DIR } from '../../../src/cli/demo.js';
import { configSchema } from '../../../src/config/schema.js';
import { flowLine, vpnLine } from '../../../src/demo/lines.js';
import { loadLibrary, type Library } from '../../../src/match/library.js';
import { keyspace } from '../../../src/redis/keys.js';
import { listSessions } from '../../../src/sessions/query.js';
import { readOutbox, useRedis } from '../sessions/redis-state.js';
import { textSink } from '../../helpers/sink.js';

const db = useRedis();

/** "Now" for every run: 10 March 2026, 12:00 local time (BSD stamps are local). */
const NOW = new Date(2026, 2, 10, 12).getTime();
const deps = { clock: { now: () => NOW }, library: undefined as Library | undefined };
// Loading the library runs its regex-safety proof: seconds on a busy machine, so once per file.
beforeAll(async () => {
  deps.library = await loadLibrary([SHIPPED_PATTERNS_DIR]);
}, 120_000);
const bsd = (hoursAgo: number) => {
  const d = new Date(NOW - hoursAgo * 3600_000);
  const mon = d.toLocaleString('en-US', { month: 'short' });
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${mon} ${String(d.getDate()).padStart(2, ' ')} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};

/** Two files, the second gzipped: alice connects and rekeys, bob connects and leaves, carol is too old. */
function archive(): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'ptim-replay-'));
  const a = [
    vpnLine({ kind: 'up', user: 'carol', ip: '10.9.0.3', time: bsd(30) }), // older than sessionIdleSecs (24 h)
    flowLine(1),
    vpnLine({ kind: 'up', user: 'alice', ip: '10.9.0.1', tunnelId: 1, time: bsd(5) }),
    vpnLine({ kind: 'up', user: 'bob', ip: '10.9.0.2', tunnelId: 2, time: bsd(4) }),
    flowLine(2),
    `<30>14:02:11 srx1600-edge iked[1]: IKE_VPN_UP_ALARM_USER: no date on this one`,
  ];
  const b = [
    vpnLine({ kind: 'up', user: 'alice', ip: '10.9.0.1', tunnelId: 1, time: bsd(2) }), // repeated UP: the rekey
    vpnLine({ kind: 'down', user: 'bob', ip: '10.9.0.2', tunnelId: 2, time: bsd(1) }),
    vpnLine({ kind: 'up', user: 'Not-Applicable', ip: '10.9.0.4', time: bsd(1) }),
  ];
  const fa = join(dir, 'messages.1');
  const fb = join(dir, 'messages.2.gz');
  writeFileSync(fa, `${a.join('\n')}\n`);
  writeFileSync(fb, gzipSync(Buffer.from(`${b.join('\r\n')}\r\n`)));
  return [fa, fb];
}

const config = (prefix: string) =>
  configSchema.parse({ patterns: { dirs: [SHIPPED_PATTERNS_DIR] }, redis: { url: db.server.url, keyPrefix: prefix } });

describe('ptim-bridge replay', () => {
  it('seeds sessions and the outbox in order at device time, and a second run changes nothing', async () => {
    const prefix = `${db.server.keyPrefix}r`;
    const files = archive();
    const out = textSink();
    expect(await runReplay(config(prefix), files, out.stream, textSink().stream, {}, deps)).toBe(0);
    expect(out.text()).toContain('replay: 9 line(s) read from 2 file(s); 4 VPN event(s) replayed');
    expect(out.text()).toContain('2 not VPN lines, 1 without a date, 1 older than --since');
    expect(out.text()).toContain('ignored: placeholder_user 1');
    expect(out.text()).toMatch(/decisions: .*connect 2/);

    const sessions = await listSessions(db.redis, prefix);
    expect(sessions.map((s) => [s.ip, s.user, s.since, s.lastUpAt])).toEqual([
      ['10.9.0.1', 'alice', NOW - 5 * 3600_000, NOW - 2 * 3600_000],
    ]);
    const outbox = await readOutbox(db.redis, prefix);
    expect(outbox.map(({ event: e }) => `${e.kind} ${e.user} ${e.ip} ${e.receivedAt}`)).toEqual([
      `connect alice 10.9.0.1 ${NOW - 5 * 3600_000}`,
      `connect bob 10.9.0.2 ${NOW - 4 * 3600_000}`,
      `rekey alice 10.9.0.1 ${NOW - 2 * 3600_000}`,
      `disconnect bob 10.9.0.2 ${NOW - 1 * 3600_000}`,
    ]);
    expect(await db.redis.hgetall(keyspace(prefix).replayMarks)).toEqual({ 'srx1600-edge': String(NOW - 3600_000) });

    const again = textSink();
    await runReplay(config(prefix), files, again.stream, textSink().stream, {}, deps);
    expect(again.text()).toContain('0 VPN event(s) replayed');
    expect(again.text()).toContain('4 already replayed by an earlier run');
    expect(await readOutbox(db.redis, prefix)).toHaveLength(4);
  });

  it('leaves an IP alone when Redis already holds newer state for it', async () => {
    const prefix = `${db.server.keyPrefix}n`;
    const ks = keyspace(prefix);
    await db.redis.hset(ks.session('10.9.0.1'), { ip: '10.9.0.1', user: 'dave', lastEventAt: String(NOW - 60_000) });
    const out = textSink();
    await runReplay(config(prefix), archive(), out.stream, textSink().stream, {}, deps);
    expect(out.text()).toContain('2 for an IP with newer state in Redis');
    expect((await readOutbox(db.redis, prefix)).map(({ event: e }) => `${e.kind} ${e.user}`)).toEqual([
      'connect bob',
      'disconnect bob',
    ]);
  });

  it('--dry-run writes nothing and prints what JIMS would hear, with --since', async () => {
    const prefix = `${db.server.keyPrefix}d`;
    const out = textSink();
    const err = textSink();
    await runReplay(config(prefix), archive(), out.stream, err.stream, { dryRun: true, since: '48h' }, deps);
    const all = out.text().split('\n');
    if (!all.includes('6 event(s) JIMS would hear')) throw new Error(out.text());
    const rows = all.slice(0, all.indexOf('6 event(s) JIMS would hear') + 1);
    expect(rows[0]).toMatch(/^TIME +EVENT +USER +DOMAIN +IP +FIREWALL +VPN +SEQ +REASON$/);
    expect(rows.slice(2, -1).map((r) => r.split(/ {2,}/).slice(1, 3).join(' '))).toEqual([
      'connect carol',
      'connect alice',
      'connect bob',
      'rekey alice',
      'disconnect bob',
      'disconnect carol', // idle longer than sessionIdleSecs: the sweeper would expire it
    ]);
    expect(rows.at(-1)).toBe('6 event(s) JIMS would hear');
    expect(await db.redis.exists(keyspace(prefix).sessionIndex, keyspace(prefix).outbox, keyspace(prefix).replayMarks)).toBe(0);

    const json = textSink();
    const jsonErr = textSink();
    await runReplay(config(prefix), archive(), json.stream, jsonErr.stream, { dryRun: true, json: true }, deps);
    expect((JSON.parse(json.text()) as { kind: string }[]).map((e) => e.kind)).toEqual([
      'connect',
      'connect',
      'rekey',
      'disconnect',
    ]);
    expect(jsonErr.text()).toContain('4 VPN event(s) replayed');
  });

  it('draws a progress bar when asked (a TTY) and refuses bad arguments', async () => {
    const err = textSink();
    await runReplay(
      config(`${db.server.keyPrefix}p`),
      archive(),
      textSink().stream,
      err.stream,
      { dryRun: true, progress: true },
      deps,
    );
    expect(err.text()).toMatch(/\[#{30}\] 100% {2}9 lines, 4 events\n$/);
    await expect(runReplay(config('x'), ['/nonexistent'], textSink().stream, textSink().stream, {}, deps)).rejects.toMatchObject({
      code: 'PTIM_ERR_USAGE',
    });
    await expect(
      runReplay(config('x'), archive(), textSink().stream, textSink().stream, { since: 'soon' }, deps),
    ).rejects.toMatchObject({
      code: 'PTIM_ERR_USAGE',
    });
  });
});
