#!/usr/bin/env node
// Process entry: command-line dispatch. The only file that calls process.exit.
// Exit codes: 0 success; 1 a check/test failed or the bridge could not start; 2 usage errors.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { createApp } from './app.js';
import { runCheck } from './cli/check.js';
import { failedList, failedPurge, failedRetry, showQueue, showSessions } from './cli/admin.js';
import { demoBanner, startDemo } from './cli/demo.js';
import { buildJimsSimCommand } from './cli/jims-sim.js';
import { runPatternsExplain, runPatternsTest } from './cli/patterns.js';
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
    const cfg = await config(cmd);
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
      maxFieldBytes: cfg.patterns.maxFieldBytes,
    });
  });

program
  .command('sessions')
  .description('list the IPs currently mapped to a user (from Redis)')
  .option('--json', 'JSON output')
  .action(async (o: { json?: boolean }, cmd: Command) => {
    process.exitCode = await showSessions(await config(cmd), process.stdout, o);
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

program.addCommand(buildJimsSimCommand());
program.addCommand(buildSendCommand());

program.parseAsync(process.argv).catch(fail);
