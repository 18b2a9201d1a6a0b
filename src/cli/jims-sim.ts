// `ptim-bridge jims-sim`: runs the JIMS simulator (token + push endpoints, fault injection, record
// mode). Every option can also come from a JIMS_SIM_* environment variable, for the compose file.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { PtimError } from '../errors.js';
import { createLogger } from '../log.js';
import { createJimsSimulator, type JimsSimClient, type JimsSimOptions } from '../jims-sim/simulator.js';

function parseClient(spec: string): JimsSimClient {
  const idx = spec.indexOf(':');
  if (idx <= 0 || idx === spec.length - 1)
    throw new PtimError(
      'PTIM_ERR_USAGE',
      `a client must be given as id:secret (got ${JSON.stringify(spec.slice(0, Math.max(idx, 0)) + ':…')})`,
    );
  return { clientId: spec.slice(0, idx), clientSecret: spec.slice(idx + 1) };
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new PtimError('PTIM_ERR_USAGE', `${name} must be a non-negative number`);
  return n;
};

export interface JimsSimCliOptions {
  host: string;
  port: number;
  https?: boolean;
  http?: boolean;
  cert?: string;
  key?: string;
  client?: string[];
  tokenPath: string;
  pushPath: string;
  pushMethod: 'POST' | 'PUT' | 'PATCH';
  template: string;
  tokenLifetimeSecs: number;
  record?: string;
  latencyMs: number;
  errorRate: number;
  offline?: 'refuse' | 'hang';
  logLevel: string;
}

/** Turns parsed CLI options (and JIMS_SIM_CLIENTS) into simulator options; throws PTIM_ERR_USAGE. */
export function simOptionsFromCli(
  o: JimsSimCliOptions,
  env: NodeJS.ProcessEnv = process.env,
): {
  options: JimsSimOptions;
  warnings: string[];
} {
  const warnings: string[] = [];
  if (o.https && o.http) throw new PtimError('PTIM_ERR_USAGE', 'give either --https or --http, not both');
  const haveCert = Boolean(o.cert && o.key);
  if (o.https && !haveCert) throw new PtimError('PTIM_ERR_USAGE', '--https needs --cert and --key');
  const useHttps = o.https || (!o.http && haveCert);
  if (!useHttps && !o.http)
    warnings.push("no --cert/--key given: serving plain HTTP (set the bridge's jims.primary.scheme to http)");
  const specs =
    o.client && o.client.length > 0
      ? o.client
      : (env.JIMS_SIM_CLIENTS ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  const clients = specs.map(parseClient);
  if (clients.length === 0 && !o.record)
    throw new PtimError('PTIM_ERR_USAGE', 'give at least one --client id:secret (or JIMS_SIM_CLIENTS="id:secret,…")');
  if (o.errorRate > 1) throw new PtimError('PTIM_ERR_USAGE', '--error-rate is a fraction between 0 and 1');
  const options: JimsSimOptions = {
    clients,
    tokenPath: o.tokenPath,
    push: { path: o.pushPath, method: o.pushMethod, template: o.template },
    tokenLifetimeSecs: o.tokenLifetimeSecs,
    faults: { latencyMs: o.latencyMs, errorRate: o.errorRate, offline: o.offline ?? false },
  };
  if (o.record) options.record = { file: o.record };
  if (useHttps && o.cert && o.key) {
    try {
      options.tls = { cert: readFileSync(o.cert), key: readFileSync(o.key) };
    } catch (e) {
      throw new PtimError('PTIM_ERR_SECRET', `cannot read the TLS certificate or key: ${(e as Error).message}`);
    }
  }
  return { options, warnings };
}

export function buildJimsSimCommand(): Command {
  return new Command('jims-sim')
    .description(
      'run the JIMS simulator: OAuth2 token + identity push endpoints, fault injection, and record mode ' +
        '(capture what a real 24.4R1+ firewall sends). Inspect it under /_sim/ (identities, operations, counters, ' +
        'requests, faults; POST /_sim/faults {"offline":"hang"}, /_sim/reset, /_sim/revoke-tokens).',
    )
    .addOption(new Option('--host <host>', 'address to listen on').env('JIMS_SIM_HOST').default('0.0.0.0'))
    .addOption(new Option('--port <port>', 'port to listen on').env('JIMS_SIM_PORT').argParser(num('--port')).default(8443))
    .addOption(new Option('--https', 'serve HTTPS (needs --cert and --key)').env('JIMS_SIM_HTTPS'))
    .addOption(new Option('--http', 'serve plain HTTP').env('JIMS_SIM_HTTP'))
    .addOption(new Option('--cert <file>', 'TLS certificate (PEM)').env('JIMS_SIM_CERT'))
    .addOption(new Option('--key <file>', 'TLS private key (PEM)').env('JIMS_SIM_KEY'))
    .addOption(
      new Option('--client <id:secret>', 'an accepted OAuth2 client (repeat; or JIMS_SIM_CLIENTS="id:secret,…")').argParser(
        collect,
      ),
    )
    .addOption(new Option('--token-path <path>', 'token endpoint path').env('JIMS_SIM_TOKEN_PATH').default('oauth_token/oauth'))
    .addOption(
      new Option('--push-path <path>', 'push endpoint path').env('JIMS_SIM_PUSH_PATH').default('api/userfw/v1/post-entry'),
    )
    .addOption(
      new Option('--push-method <method>', 'push method')
        .env('JIMS_SIM_PUSH_METHOD')
        .choices(['POST', 'PUT', 'PATCH'])
        .default('POST'),
    )
    .addOption(
      new Option('--template <name|file>', 'push body template: userfw-xml, userfw-json or a file')
        .env('JIMS_SIM_TEMPLATE')
        .default('userfw-xml'),
    )
    .addOption(
      new Option('--token-lifetime-secs <n>', 'expires_in of issued tokens')
        .env('JIMS_SIM_TOKEN_LIFETIME_SECS')
        .argParser(num('--token-lifetime-secs'))
        .default(28800),
    )
    .addOption(
      new Option('--record <file>', 'record mode: append every request (secrets masked) to this JSON-lines file').env(
        'JIMS_SIM_RECORD',
      ),
    )
    .addOption(
      new Option('--latency-ms <n>', 'added latency').env('JIMS_SIM_LATENCY_MS').argParser(num('--latency-ms')).default(0),
    )
    .addOption(
      new Option('--error-rate <f>', 'fraction of pushes answered 503')
        .env('JIMS_SIM_ERROR_RATE')
        .argParser(num('--error-rate'))
        .default(0),
    )
    .addOption(
      new Option('--offline <mode>', 'refuse or hang token/push requests').env('JIMS_SIM_OFFLINE').choices(['refuse', 'hang']),
    )
    .addOption(new Option('--log-level <level>', 'log level').env('JIMS_SIM_LOG_LEVEL').default('info'))
    .action(async (o: JimsSimCliOptions) => {
      const logger = createLogger({ name: 'jims-sim', level: o.logLevel });
      const { options, warnings } = simOptionsFromCli(o);
      for (const w of warnings) logger.warn(w);
      const sim = createJimsSimulator({ ...options, logger });
      const { url } = await sim.listen(o.port, o.host);
      console.log(`JIMS simulator listening on ${url}${options.record ? ` (recording to ${options.record.file})` : ''}`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, 'shutting down');
          sim.close().then(resolve, resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
}
