// `ptim-bridge replay FILE…`: seeds the session state at cut-over from the syslog archive an
// operator already has (plain or gzip), through the production pipeline and session engine; or,
// with --dry-run, prints what JIMS would hear and writes nothing.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline as pipe } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Config } from '../config/schema.js';
import { PtimError } from '../errors.js';
import { silentLogger } from '../log.js';
import { loadLibrary, type Library } from '../match/library.js';
import { createMetrics, type Metrics } from '../ops/metrics.js';
import { createPipeline } from '../pipeline.js';
import { openRedis } from '../redis/connection.js';
import { TableStream, clean } from '../queue/format.js';
import { keyspace } from '../redis/keys.js';
import { shardsOf } from '../redis/shards.js';
import { emptyCounts, replayLines, type ReplayCounts } from '../replay/run.js';
import { engineSink, modelSink } from '../replay/sinks.js';
import { parseSince } from '../replay/time.js';
import { createSessionEngine } from '../sessions/engine.js';
import { ActiveSessions, shardedEngine } from '../shards.js';
import type { Clock, IdentityEvent } from '../types.js';
import { writer } from './admin.js';
import { byteLines } from '../ingest/frame-input.js';

type Out = NodeJS.WritableStream;

export interface ReplayCliOptions {
  dryRun?: boolean;
  json?: boolean;
  /** ISO date/time or a duration back from now; default sessions.sessionIdleSecs back. */
  since?: string;
  firewall?: string;
  /** Draw a progress bar on `err` (the CLI passes stderr.isTTY). */
  progress?: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** Bytes read from the files so far, of their total (compressed bytes for .gz). */
interface Progress {
  done: number;
  readonly total: number;
}

/** The lines of every file in order; gzip is recognised by its magic bytes, not the name. */
async function* archiveLines(files: readonly string[], progress: Progress): AsyncGenerator<Buffer> {
  for (const file of files) {
    const head = await firstBytes(file, 2);
    const counter = new Transform({
      transform(chunk: Buffer, _e, cb) {
        progress.done += chunk.length;
        cb(null, chunk);
      },
    });
    const text = new PassThrough();
    const stages: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [createReadStream(file), counter];
    if (head[0] === 0x1f && head[1] === 0x8b) stages.push(createGunzip());
    const done = pipe([...stages, text] as unknown as [Readable, PassThrough]).catch((e: Error) => {
      text.destroy(new PtimError('PTIM_ERR_USAGE', `${file}: ${e.message}`));
    });
    yield* byteLines(text);
    await done;
  }
}

async function firstBytes(file: string, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of createReadStream(file, { start: 0, end: n - 1 })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function progressBar(err: Out, progress: Progress, counts: ReplayCounts, clock: Clock) {
  let last = 0;
  const draw = (force = false) => {
    const now = clock.now();
    if (!force && now - last < 250) return;
    last = now;
    const share = progress.total ? Math.min(1, progress.done / progress.total) : 1;
    const bar = '#'.repeat(Math.round(share * 30)).padEnd(30, '.');
    err.write(
      `\r[${bar}] ${(share * 100).toFixed(0).padStart(3)}%  ${counts.lines.toLocaleString('en-US')} lines, ${counts.events} events`,
    );
  };
  return { draw, end: () => (draw(true), err.write('\n')) };
}

function summary(
  counts: ReplayCounts,
  files: number,
  since: number,
  metrics: Metrics | undefined,
  newer: number,
): Promise<string> | string {
  const ignored = Object.entries(counts.ignored).map(([k, v]) => `${k} ${v}`);
  const lines = [
    `replay: ${counts.lines.toLocaleString('en-US')} line(s) read from ${files} file(s); ${counts.events} VPN event(s) replayed`,
    `  not replayed: ${counts.skipped} not VPN lines, ${counts.noTime} without a date, ${counts.tooOld} older than --since ${iso(since)}, ` +
      `${counts.alreadyReplayed} already replayed by an earlier run${metrics ? `, ${newer} for an IP with newer state in Redis` : ''}`,
    `  ignored: ${ignored.length ? ignored.join(', ') : 'none'}; near misses: ${counts.nearMisses}` +
      (counts.nearMisses ? ' (`ptim-bridge patterns explain FILE` shows why)' : ''),
  ];
  if (!metrics) return `${lines.join('\n')}\n`;
  return metrics.decisions.get().then((d) => {
    const by = d.values.filter((v) => v.value > 0).map((v) => `${String(v.labels.decision)} ${v.value}`);
    return `${lines.join('\n')}\n  decisions: ${by.length ? by.join(', ') : 'none'}\n`;
  });
}

/** Prints identity events as a table or a JSON array, with backpressure. */
function eventPrinter(out: Out, json: boolean) {
  const write = writer(out);
  const tbl = json ? undefined : new TableStream(['TIME', 'EVENT', 'USER', 'DOMAIN', 'IP', 'FIREWALL', 'VPN', 'SEQ', 'REASON']);
  let n = 0;
  return {
    print: (e: IdentityEvent) => {
      n++;
      if (!tbl) return write(`${n === 1 ? '[\n' : ',\n'}${JSON.stringify(e)}`);
      const row = [iso(e.receivedAt), e.kind, clean(e.user, 64), clean(e.domain, 64), e.ip, clean(e.firewall, 64)];
      return write(tbl.push([...row, clean(e.vpn ?? '-', 64), String(e.seq), clean(e.reason ?? '', 64)]));
    },
    end: () => write(tbl ? `${tbl.end()}${n} event(s) JIMS would hear\n` : n === 0 ? '[]\n' : '\n]\n'),
  };
}

export async function runReplay(
  config: Config,
  files: readonly string[],
  out: Out,
  err: Out,
  opts: ReplayCliOptions,
  deps: { clock: Clock; /** Already loaded (tests); else patterns.dirs is loaded. */ library?: Library },
): Promise<number> {
  const { clock } = deps;
  if (files.length === 0) throw new PtimError('PTIM_ERR_USAGE', 'name one or more archive files (plain or .gz)');
  for (const f of files) if (!existsSync(f)) throw new PtimError('PTIM_ERR_USAGE', `no such file: ${f}`);
  const now = clock.now();
  const since = opts.since === undefined ? now - config.sessions.sessionIdleSecs * 1000 : parseSince(opts.since, now);
  if (typeof since === 'string') throw new PtimError('PTIM_ERR_USAGE', since);

  const library = deps.library ?? (await loadLibrary(config.patterns.dirs));
  const metrics = createMetrics();
  const pipeline = createPipeline({
    library,
    identity: config.identity,
    metrics,
    logger: silentLogger,
    clock,
    maxFieldBytes: config.patterns.maxFieldBytes,
  });
  const progress: Progress = { done: 0, total: files.reduce((s, f) => s + statSync(f).size, 0) };
  const counts = emptyCounts();
  const bar = opts.progress ? progressBar(err, progress, counts, clock) : undefined;
  const lines = async function* () {
    for await (const l of archiveLines(files, progress)) {
      yield l;
      bar?.draw();
    }
  };
  const base = { pipeline, now, since, firewall: opts.firewall };

  if (opts.dryRun) {
    const printer = eventPrinter(out, opts.json ?? false);
    const sink = modelSink(config.sessions, printer.print);
    await replayLines(lines(), { ...base, sink, marks: new Map() }, counts);
    await sink.expireIdle(now);
    bar?.end();
    await printer.end();
    (opts.json ? err : out).write(await summary(counts, files.length, since, undefined, 0));
    return 0;
  }

  const redis = await openRedis(config.redis, 'producer');
  try {
    const marksKey = keyspace(config.redis.keyPrefix).replayMarks;
    const stored = new Map(Object.entries(await redis.hgetall(marksKey)).map(([k, v]) => [k, Number(v)]));
    const shards = shardsOf(config.redis.keyPrefix, config.redis.shards);
    const make = (keyPrefix: string, activeSessions: (n: number) => void) =>
      createSessionEngine({ redis, cfg: config.sessions, keyPrefix, metrics, logger: silentLogger, clock, activeSessions });
    const engine = shardedEngine(shards, config.sessions.ipScope, make, new ActiveSessions(metrics, shards));
    const sink = engineSink(engine, redis, shards, config.sessions.ipScope);
    try {
      const r = await replayLines(lines(), { ...base, sink, marks: stored }, counts);
      await sink.finish();
      for (const [fw, at] of r.marks) if (at > (stored.get(fw) ?? -Infinity)) await redis.hset(marksKey, fw, String(at));
    } finally {
      await engine.close();
    }
    bar?.end();
    out.write(await summary(counts, files.length, since, metrics, sink.newerState()));
    return 0;
  } finally {
    redis.disconnect();
  }
}
