// Push throughput of the JIMS client against the bundled simulator over loopback (HTTP and HTTPS):
// render, bearer token, request, classification, identity table update. Prints pushes/s, latency,
// entries per request and CPU per push (this process: the client and the simulator together).
// Run: node --import tsx bench/jims.ts   (PUSHES=5000 CONCURRENCY=32 MAX_ENTRIES=50 to change the load;
// MAX_ENTRIES=1 sends one event per request, as before batching)
import { performance } from 'node:perf_hooks';
import { jimsSchema } from '../src/config/schema.js';
import { createJimsClient } from '../src/jims/client.js';
import { createJimsSimulator } from '../src/jims-sim/simulator.js';
import { silentLogger } from '../src/log.js';
import { createMetrics } from '../src/ops/metrics.js';
import { systemClock, type IdentityEvent } from '../src/types.js';
import { makeCerts } from '../test/helpers/certs.js';

const PUSHES = Number(process.env.PUSHES ?? 5000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const MAX_ENTRIES = Number(process.env.MAX_ENTRIES ?? 50);

async function run(scheme: 'http' | 'https'): Promise<void> {
  const certs = scheme === 'https' ? makeCerts() : undefined;
  const sim = createJimsSimulator({
    clients: [{ clientId: 'bench', clientSecret: 'bench-secret' }],
    ...(certs ? { tls: { cert: certs.cert, key: certs.key } } : {}),
  });
  const { port } = await sim.listen(0);
  const cfg = jimsSchema.parse({
    primary: {
      host: '127.0.0.1',
      port,
      scheme,
      clientId: 'bench',
      clientSecret: 'bench-secret',
      ...(certs ? { caFile: certs.caFile } : {}),
    },
    maxSockets: CONCURRENCY,
    push: { maxEntriesPerRequest: MAX_ENTRIES },
  });
  const client = createJimsClient(cfg, { metrics: createMetrics(), logger: silentLogger, clock: systemClock });
  const latencies: number[] = [];
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < PUSHES) {
      const i = next++;
      const ev: IdentityEvent = {
        kind: i % 3 === 2 ? 'disconnect' : 'connect',
        ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        user: `user${i}`,
        domain: 'example.com',
        seq: i,
        firewall: 'srx-bench',
        at: Date.now(),
        receivedAt: Date.now(),
        correlationId: `b${i}`,
      };
      const t0 = performance.now();
      const o = await client.push(ev);
      latencies.push(performance.now() - t0);
      if (o.result !== 'delivered') failed++;
    }
  };
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const cpu = process.cpuUsage(cpu0);
  const secs = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0).toFixed(2);
  console.log(
    `${scheme.padEnd(5)} ${PUSHES} pushes, concurrency ${CONCURRENCY}: ${Math.round(PUSHES / secs)} pushes/s, ` +
      `p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, not delivered ${failed}, sim tokens ${sim.counters().tokens}, ` +
      `${(PUSHES / sim.counters().pushRequests).toFixed(1)} entries/request, ` +
      `${((cpu.user + cpu.system) / 1000 / PUSHES).toFixed(3)} ms CPU/push (client + simulator)`,
  );
  await client.close();
  await sim.close();
}

await run('http');
await run('https');
