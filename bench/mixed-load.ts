// Mixed load as a firewall sends it: 99 % flow-log noise, 1 % VPN lines, ~500-byte lines, at 20,
// 50, 100 and 200 k lines/s, offered by C sendmmsg senders (--senders, 2) to the whole bridge (its own process,
// private Redis, JIMS simulator) and, datagram for datagram, to a bare single-threaded `dgram`
// socket that only counts (another process, same receive buffer). Prints what was offered, what
// each received, the ratio bridge/bare (target ≥ 1.0 at every rate), kernel drops and CPU per line.
// Run: npm run bench:mixed -- [--secs 3] [--rates 20000,50000,100000,200000] [--senders 2] [--set …]
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../src/config/schema.js';
import { vpnLine } from '../src/demo/lines.js';
import { blast, buildBlaster, configOverrides, noiseLine, numberFlag, startStack } from './lib.js';

const SIZE = 500;
const RECV_BUFFER = defaultConfig().ingest.udp.receiveBufferBytes;

interface BareStats {
  count: number;
  cpuMicros: number;
}

// ---- the bare socket (child process) ------------------------------------------------------------

async function bareMain(): Promise<void> {
  const sock = createSocket({ type: 'udp4', recvBufferSize: RECV_BUFFER });
  let count = 0;
  sock.on('message', () => void count++);
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  process.send!({ port: sock.address().port, receiveBufferBytes: sock.getRecvBufferSize() });
  process.on('message', () => {
    const c = process.cpuUsage();
    process.send!({ count, cpuMicros: c.user + c.system } satisfies BareStats);
  });
  process.on('disconnect', () => process.exit(0));
}

// ---- the bench ----------------------------------------------------------------------------------

function ratesFlag(): number[] {
  const i = process.argv.indexOf('--rates');
  const raw = i >= 0 ? process.argv[i + 1] : undefined;
  return raw ? raw.split(',').map(Number) : [20_000, 50_000, 100_000, 200_000];
}

/** 10,000 lines: every 100th a VPN UP line (100 users, repeated as the file cycles), the rest noise. */
function mix(): string[] {
  return Array.from({ length: 10_000 }, (_, i) =>
    i % 100 === 0
      ? vpnLine({ kind: 'up', user: `mixed${i / 100}@example.com`, ip: `10.77.0.${(i / 100) % 250}` })
      : noiseLine(i, SIZE),
  );
}

async function benchMain(): Promise<void> {
  const secs = numberFlag('secs', 3);
  const senders = numberFlag('senders', 2);
  await buildBlaster();
  const stack = await startStack(configOverrides());
  const bare: ChildProcess = fork(fileURLToPath(import.meta.url), ['--bare'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [{ port: barePort, receiveBufferBytes: bareBuffer }] = (await once(bare, 'message')) as [
    { port: number; receiveBufferBytes: number },
  ];
  const bareStats = async () => {
    bare.send('stats');
    return ((await once(bare, 'message')) as [BareStats])[0];
  };
  const lines = mix();
  console.log(
    `mixed load: 99 % noise / 1 % VPN, ${SIZE}-byte lines, ${secs} s per rate from ${senders} C senders, to the bridge and to a bare dgram socket (receive buffer ${RECV_BUFFER} bytes requested by both; the kernel reports bridge ${stack.receiveBufferBytes ?? 'n/a'}, bare ${bareBuffer})`,
  );
  console.log('  offered/s   bridge recv   bare recv   ratio   kernel drops (bridge)   bridge CPU/line   bare CPU/line');
  for (const rate of ratesFlag()) {
    const b0 = await stack.bridgeStats();
    const s0 = await bareStats();
    const sent = await blast(lines, rate, secs, [stack.syslogPort, barePort], senders);
    // Let both drain what is still in their receive queues.
    await new Promise((r) => setTimeout(r, 1000));
    const b1 = await stack.bridgeStats();
    const s1 = await bareStats();
    const got = (b1.counters.received ?? 0) - (b0.counters.received ?? 0);
    const bareGot = s1.count - s0.count;
    const drops = (b1.counters.kernelDrops ?? 0) - (b0.counters.kernelDrops ?? 0);
    const cpu = (micros: number, n: number) => (n > 0 ? `${(micros / n).toFixed(2)} µs` : 'n/a');
    console.log(
      `  ${String(Math.round(sent.rate)).padStart(9)}   ${`${got}/${sent.sent}`.padStart(11)}   ${String(bareGot).padStart(9)}   ${(bareGot > 0 ? got / bareGot : NaN).toFixed(3).padStart(5)}   ${String(drops).padStart(21)}   ${cpu(b1.cpuMicros - b0.cpuMicros, got).padStart(15)}   ${cpu(s1.cpuMicros - s0.cpuMicros, bareGot).padStart(13)}`,
    );
  }
  const end = await stack.bridgeStats();
  console.log(`  bridge counters at the end: ${JSON.stringify(end.counters)}; dropped ${JSON.stringify(end.dropped)}`);
  bare.disconnect();
  bare.removeAllListeners();
  await stack.stop();
  process.exit(0);
}

if (process.argv.includes('--bare')) await bareMain();
else await benchMain();
