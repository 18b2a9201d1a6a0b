#!/usr/bin/env node
// Process entry: command-line dispatch. The only file that calls process.exit.
// Exit codes: 0 success; 1 a check/test failed or the bridge could not start; 2 usage errors.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { createApp } from './app.js';
import { runCheck, withPatternProblems } from './cli/check.js';
import { failedList, failedPurge, failedRetry, showQueue, showSessions, type SessionsOptions } from './cli/admin.js';
import { demoBanner, startDemo } from './cli/demo.js';
import { runHashPassword } from './cli/hash-password.js';
import { buildJimsSimCommand } from './cli/jims-sim.js';
import { runPatternsExplain, runPatternsProve, runPatternsTest } from './cli/patterns.js';
import { runReplay, type ReplayCliOptions } from './cli/replay.js';
import { runResync } from './cli/resync.js';
import { buildSendCommand } from './cli/send.js';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { PtimError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics } from './ops/metrics.js';
import { systemClock } from './types.js';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function fail(e: unknown): never {
  if (e instanceof PtimError) process.stderr.write(`${e.report()}\n`);
  else process.stderr.write(`error: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
}

async function config(cmd: Command): Promise<Config> {
  const { config: file } = cmd.optsWithGlobals<{ config?: string }>();
  return (await loadConfig({ file })).config;
}

/**
 * Runs `stop` once on SIGTERM/SIGINT, then exits; a second signal exits at once, and so does the
 * end of `graceMs` (stop() budgets its own steps to end before it: this is the backstop).
 */
function onShutdown(logger: Logger, stop: () => Promise<void>, graceMs = 10_000): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ graceMs }, 'shutdown grace period over: exiting now');
      process.exit(1);
    }, graceMs).unref();
    stop().then(
      () => process.exit(0),
      (e) => {
        logger.error({ err: e }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

const program = new Command('ptim-bridge')
  .description('Gives pre-24.4R1 SRX firewalls PTIM: VPN syslog in, connect/rekey/disconnect pushes to JIMS out.')
  .version(version)
  .option('-c, --config <file>', 'configuration file (YAML); default $PTIM_CONFIG, else built-in defaults + env');

program
  .command('serve')
  .description('run the bridge (roles from config: ingest, relay, worker, sweeper)')
  .action(async (_o, cmd: Command) => {
    // Like `check`: an invalid configuration is reported together with the pattern library's problems.
    const cfg = await config(cmd).catch(async (e: unknown) => {
      if (!(e instanceof PtimError)) throw e;
      throw PtimError.combine((await withPatternProblems(e, cmd.optsWithGlobals<{ config?: string }>().config)).errors);
    });
    const logger = createLogger({ level: cfg.log.level });
    const metrics = createMetrics(undefined, { processMetrics: true });
    const app = await createApp(cfg, { logger, metrics, clock: systemClock });
    await app.start();
    onShutdown(logger, () => app.stop(), cfg.shutdownGraceSecs * 1000);
  });

program
  .command('demo')
  .description('run the bridge with the JIMS simulator and (unless --redis-url/REDIS_URL) a private redis-server')
  .option('--syslog-port <port>', 'UDP and TCP syslog port', Number, 5514)
  .option('--ops-port <port>', 'health/metrics port', Number, 9514)
  .option('--sim-port <port>', 'JIMS simulator port', Number, 8080)
  .option('--redis-url <url>', 'use this Redis instead of a private redis-server')
  .action(async (o: { syslogPort: number; opsPort: number; simPort: number; redisUrl?: string }) => {
    const logger = createLogger({ level: process.env.PTIM__LOG__LEVEL ?? 'info' });
    const redisUrl = o.redisUrl ?? (process.env.REDIS_URL || undefined);
    const demo = await startDemo({ ...o, redisUrl }, { logger, metrics: createMetrics(undefined, { processMetrics: true }) });
    process.stderr.write(demoBanner(demo, !redisUrl));
    onShutdown(logger, () => demo.stop());
  });

program
  .command('check')
  .description('validate the configuration, allow-list, pattern library and JIMS templates; start nothing')
  .action(async (_o, cmd: Command) => {
    const { config: file } = cmd.optsWithGlobals<{ config?: string }>();
    process.exitCode = await runCheck(file, process.stdout, process.stderr);
  });

const patterns = program.command('patterns').description('prove the pattern library before deploying it');
patterns
  .command('test')
  .description('run every example and counter-example of the library; non-zero exit on any failure')
  .option('--dir <dir...>', 'pattern directories (default: patterns.dirs from the config)')
  .action(async (o: { dir?: string[] }, cmd: Command) => {
    const dirs = o.dir ?? (await config(cmd)).patterns.dirs;
    process.exitCode = await runPatternsTest(dirs, process.stdout);
  });
patterns
  .command('explain')
  .description('show, for each log line, which pattern matched (or the closest one and why not) and the event')
  .argument('[file]', 'log file, or - for standard input', '-')
  .option('--dir <dir...>', 'pattern directories (default: patterns.dirs from the config)')
  .option('--json', 'one JSON object per line')
  .action(async (file: string, o: { dir?: string[]; json?: boolean }, cmd: Command) => {
    const cfg = await config(cmd);
    const { createReadStream, existsSync } = await import('node:fs');
    if (file !== '-' && !existsSync(file)) throw new PtimError('PTIM_ERR_USAGE', `no such log file: ${file}`);
    const input = file === '-' ? process.stdin : createReadStream(file);
    process.exitCode = await runPatternsExplain(o.dir ?? cfg.patterns.dirs, cfg.identity, input, process.stdout, {
      json: o.json,
      framing: cfg.ingest,
      maxFieldBytes: cfg.patterns.maxFieldBytes,
    });
  });

patterns
  .command('prove')
  .description('prove the regexes without a stored safety verdict now (all with --again) and store the verdicts')
  .option('--dir <dir...>', 'pattern directories (default: patterns.dirs from the config)')
  .option('--write <file>', 'also write the verdicts of every regex of the library to this file (e.g. patterns/verdicts.json)')
  .option('--again', 'prove every regex again, ignoring stored verdicts')
  .option('--share', "also publish the verdicts to the configured Redis, where every replica's serve finds them")
  .action(async (o: { dir?: string[]; write?: string; again?: boolean; share?: boolean }, cmd: Command) => {
    const { patterns: cfg, redis } = await config(cmd);
    process.exitCode = await runPatternsProve(o.dir ?? cfg.dirs, process.stdout, {
      ...o,
      verdictCacheFile: cfg.verdictCacheFile,
      share: o.share ? redis : undefined,
    });
  });

program
  .command('sessions')
  .description('list the IPs currently mapped to a user (streamed from Redis; filters combine)')
  .option('--json', 'JSON output (an array)')
  .option('--user <pattern>', 'username, * and ? as wildcards, any case')
  .option('--ip <cidr>', 'mapped address or CIDR')
  .option('--firewall <pattern>', 'firewall name, * and ? as wildcards')
  .option('--vpn <pattern>', 'VPN name, * and ? as wildcards')
  .option('--limit <n>', 'at most this many (a page); the end of the page says how to get the next', Number)
  .option('--cursor <token>', 'continue after the page that printed this token')
  .option('--count', 'print only how many sessions match')
  .action(async (o: SessionsOptions, cmd: Command) => {
    process.exitCode = await showSessions(await config(cmd), process.stdout, o);
  });

program
  .command('replay')
  .description('seed session state at cut-over from a syslog archive (plain or .gz), in order, at device time')
  .argument('<files...>', 'archive files, replayed in the order given')
  .option('--dry-run', 'write nothing; print what JIMS would hear')
  .option('--json', 'with --dry-run: a JSON array of identity events')
  .option('--since <when>', 'skip lines older than this: ISO date/time or a duration (36h, 7d); default sessions.sessionIdleSecs')
  .option('--firewall <name>', 'firewall name for every line (default: the syslog hostname)')
  .action(async (files: string[], o: ReplayCliOptions, cmd: Command) => {
    const progress = process.stderr.isTTY === true;
    process.exitCode = await runReplay(
      await config(cmd),
      files,
      process.stdout,
      process.stderr,
      { ...o, progress },
      { clock: systemClock },
    );
  });

program
  .command('resync')
  .description('re-push every active session to JIMS (after JIMS lost its table), in order per IP, at --rate per second')
  .option('--rate <n>', 'sessions (identity events) per second', Number, 200)
  .action(async (o: { rate: number }, cmd: Command) => {
    process.exitCode = await runResync(await config(cmd), process.stdout, process.stderr, o, { clock: systemClock });
  });

program
  .command('queue')
  .description('show queue depth by state and the outbox length')
  .option('--json', 'JSON output')
  .action(async (o: { json?: boolean }, cmd: Command) => {
    process.exitCode = await showQueue(await config(cmd), process.stdout, o);
  });

const failed = program.command('failed').description('events that failed permanently (kept in the failed set)');
failed
  .command('list')
  .option('--limit <n>', 'how many, newest first', Number, 50)
  .option('--json', 'JSON output')
  .action(async (o: { limit: number; json?: boolean }, cmd: Command) => {
    process.exitCode = await failedList(await config(cmd), process.stdout, o);
  });
failed
  .command('retry')
  .argument('[jobIds...]', 'job ids from `failed list`')
  .addOption(new Option('--all', 'retry every failed event'))
  .action(async (ids: string[], o: { all?: boolean }, cmd: Command) => {
    process.exitCode = await failedRetry(await config(cmd), process.stdout, { ids, all: o.all });
  });
failed
  .command('purge')
  .option('--older-than-secs <n>', 'only those that failed longer ago than this', Number)
  .action(async (o: { olderThanSecs?: number }, cmd: Command) => {
    process.exitCode = await failedPurge(await config(cmd), process.stdout, o);
  });

program
  .command('hash-password')
  .description(
    'print the passwordHash of a console user (password read from standard input), or with --token a new API token and its tokenHash',
  )
  .option('--token', 'make a bearer token for the console API instead')
  .action(async (o: { token?: boolean }) => {
    process.exitCode = await runHashPassword(o, process.stdin, process.stdout, process.stderr);
  });

program.addCommand(buildJimsSimCommand());
program.addCommand(buildSendCommand());

program.parseAsync(process.argv).catch(fail);
