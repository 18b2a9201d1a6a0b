// `ptim-bridge demo`: the whole product on one machine with one command — a private
// redis-server (unless a Redis URL is given), the JIMS simulator, and the bridge wired to both.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createApp, type App } from '../app.js';
import { probePorts, type PortUse } from '../config/ports.js';
import { configSchema } from '../config/schema.js';
import { PtimError } from '../errors.js';
import { startPrivateRedis, type PrivateRedis } from '../demo/redis-server.js';
import { createJimsSimulator, type JimsSimulator } from '../jims-sim/simulator.js';
import { maskUrl, type Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import { systemClock } from '../types.js';

export interface DemoOptions {
  syslogPort: number;
  opsPort: number;
  simPort: number;
  /** Use this Redis instead of starting a private redis-server. */
  redisUrl?: string;
}

export interface Demo {
  readonly app: App;
  readonly sim: JimsSimulator;
  readonly simUrl: string;
  readonly redisUrl: string;
  stop(): Promise<void>;
}

/** The shipped pattern library, found next to the code whether run from src/ (tsx) or dist/. */
export const SHIPPED_PATTERNS_DIR = fileURLToPath(new URL('../../patterns', import.meta.url));

/** The demo's fixed ports, each named by the flag that changes it. */
function demoPorts(o: DemoOptions): PortUse[] {
  const at = (setting: string, protocol: 'udp' | 'tcp', port: number): PortUse => ({
    setting,
    protocol,
    address: '127.0.0.1',
    port,
  });
  return [
    at('--syslog-port', 'udp', o.syslogPort),
    at('--syslog-port', 'tcp', o.syslogPort),
    at('--ops-port', 'tcp', o.opsPort),
    at('--sim-port', 'tcp', o.simPort),
  ].filter((u) => u.port !== 0);
}

/** Before anything starts: a port in use is one line naming the flag to change. */
async function checkDemoPorts(o: DemoOptions): Promise<void> {
  const problems = await probePorts(demoPorts(o));
  if (problems.length === 0) return;
  const flags = [...new Set(problems.map((p) => p.path))];
  throw new PtimError(
    'PTIM_ERR_BIND',
    `${problems.map((p) => p.message.replace(/ \(another process.*\)$/, '')).join('; ')}: choose another port with ${flags.join(', ')}`,
  );
}

export async function startDemo(o: DemoOptions, deps: { logger: Logger; metrics: Metrics }): Promise<Demo> {
  await checkDemoPorts(o);
  let privateRedis: PrivateRedis | undefined;
  const redisUrl = o.redisUrl ?? (privateRedis = await startPrivateRedis({ appendonly: true })).url;
  const clientId = 'ptim-demo';
  const clientSecret = randomBytes(12).toString('hex');
  const sim = createJimsSimulator({ clients: [{ clientId, clientSecret }], logger: deps.logger });
  const { port: simPort, url: simUrl } = await sim.listen(o.simPort, '127.0.0.1');
  const config = configSchema.parse({
    ingest: {
      udp: { bind: ['127.0.0.1'], port: o.syslogPort },
      tcp: { bind: ['127.0.0.1'], port: o.syslogPort },
      allowedSources: ['127.0.0.0/8', '::1/128'],
    },
    patterns: { dirs: [SHIPPED_PATTERNS_DIR] },
    identity: { defaultDomain: 'example.com' },
    redis: { url: redisUrl },
    ops: { host: '127.0.0.1', port: o.opsPort },
    jims: { primary: { host: '127.0.0.1', port: simPort, scheme: 'http', clientId, clientSecret } },
  });
  let app: App;
  try {
    app = await createApp(config, { logger: deps.logger, metrics: deps.metrics, clock: systemClock });
    await app.start();
  } catch (e) {
    await sim.close();
    await privateRedis?.stop();
    throw e;
  }
  return {
    app,
    sim,
    simUrl,
    redisUrl,
    async stop() {
      await app.stop();
      await sim.close();
      await privateRedis?.stop();
    },
  };
}

export function demoBanner(d: Demo, privateRedis: boolean): string {
  const a = d.app.addresses();
  const syslog = a.syslog[0];
  const port = syslog?.port ?? 5514;
  const ops = a.ops ? `http://127.0.0.1:${a.ops.port}` : '(ops server off)';
  return [
    '',
    'ptim-bridge demo is running:',
    `  syslog        udp+tcp 127.0.0.1:${port}`,
    `  JIMS sim      ${d.simUrl}   (identity table: ${d.simUrl}/_sim/identities)`,
    `  Redis         ${maskUrl(d.redisUrl)}${privateRedis ? ' (private redis-server, deleted on exit)' : ''}`,
    `  health        ${ops}/readyz   metrics: ${ops}/metrics`,
    '',
    'Try it (in another terminal):',
    `  npx tsx src/main.ts send --port ${port} --user alice@example.com --ip 10.20.0.42          # connect`,
    `  npx tsx src/main.ts send --port ${port} --user alice@example.com --ip 10.20.0.42          # after 5 s: rekey`,
    `  npx tsx src/main.ts send --port ${port} --kind down --user alice@example.com --ip 10.20.0.42   # disconnect`,
    `  curl -s ${d.simUrl}/_sim/identities ; curl -s ${d.simUrl}/_sim/operations`,
    '',
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}
