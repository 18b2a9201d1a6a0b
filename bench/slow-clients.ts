// Connection-table abuse: CLIENTS sockets from allowed sources drip one byte per second and never
// finish a message, then a configured firewall opens a TCP connection and sends LINES lines.
// Prints how many of the firewall's lines arrived and what happened to the slow clients, for two
// spreads of the slow clients: all from one address (the per-source cap stops them), and spread
// over many addresses (the table fills; the firewall evicts the longest-idle one).
// Run: node --import tsx bench/slow-clients.ts   (CLIENTS=2000 LINES=2 to change)
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { defaultConfig } from '../src/config/schema.js';
import { createReceivers } from '../src/ingest/receivers.js';
import { silentLogger } from '../src/log.js';
import { createMetrics } from '../src/ops/metrics.js';

const CLIENTS = Number(process.env.CLIENTS ?? 2000);
const LINES = Number(process.env.LINES ?? 2);
const FIREWALL = '127.0.1.1';

async function scenario(name: string, sourceOf: (k: number) => string): Promise<void> {
  const base = defaultConfig();
  const metrics = createMetrics();
  let fromFirewall = 0;
  const receivers = createReceivers(
    {
      firewalls: [{ source: FIREWALL, name: 'srx-fw' }],
      ingest: {
        ...base.ingest,
        udp: { ...base.ingest.udp, enabled: false },
        tcp: { ...base.ingest.tcp, bind: ['127.0.0.1'], port: 0 },
        allowedSources: ['127.0.0.0/8'],
      },
    },
    {
      sink: (m) => void (m.firewall === 'srx-fw' && fromFirewall++),
      clock: { now: () => Date.now() },
      metrics,
      logger: silentLogger,
    },
  );
  await receivers.start();
  const port = receivers.addresses()[0]!.port;
  const slow: Socket[] = [];
  for (let k = 0; k < CLIENTS; k++) {
    const c = connect({ port, host: '127.0.0.1', localAddress: sourceOf(k) });
    c.on('error', () => {});
    slow.push(c);
  }
  await Promise.all(slow.map((c) => once(c, 'connect').catch(() => undefined)));
  const drip = setInterval(() => {
    for (const c of slow) if (!c.destroyed) c.write('<');
  }, 1000);
  // Let admission settle: every slow client admitted or refused.
  const dropped = async (reason: string) =>
    (await metrics.dropped.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  const open = async () => (await metrics.connections.get()).values.reduce((s, v) => s + v.value, 0);
  for (let t = 0; t < 200; t++) {
    if ((await open()) + (await dropped('connection_limit')) + (await dropped('source_connection_limit')) >= CLIENTS) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  const admitted = await open();
  const started = performance.now();
  const fw = connect({ port, host: '127.0.0.1', localAddress: FIREWALL });
  fw.on('error', () => {});
  await once(fw, 'connect');
  for (let k = 0; k < LINES; k++) fw.write(`<30>Mar  3 14:02:11 srx kmd[1]: KMD_VPN_UP_ALARM_USER: line ${k}\n`);
  for (let t = 0; t < 400 && fromFirewall < LINES; t++) await new Promise((r) => setTimeout(r, 25));
  const ms = performance.now() - started;
  console.log(
    `${name}: firewall lines delivered ${fromFirewall}/${LINES} in ${ms.toFixed(0)} ms; slow clients: ` +
      `${admitted} admitted, ${await dropped('source_connection_limit')} refused by the per-source cap, ` +
      `${await dropped('connection_limit')} refused (table full), ${await dropped('evicted')} evicted for the firewall`,
  );
  clearInterval(drip);
  for (const c of slow) c.destroy();
  fw.destroy();
  await receivers.stop();
}

await scenario(`${CLIENTS} slow clients from one address`, () => '127.0.0.2');
await scenario(
  `${CLIENTS} slow clients over ${Math.ceil(CLIENTS / 10)} addresses`,
  (k) => `127.0.${2 + Math.floor(k / 10 / 250)}.${1 + (((k / 10) | 0) % 250)}`,
);
