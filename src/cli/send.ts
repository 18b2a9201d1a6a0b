// `ptim-bridge send`: sends VPN syslog lines to a bridge, as a firewall would. Operators use it
// to try a stack (`docker compose up`, then send an UP and see it in the simulator).
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Command, InvalidArgumentError, Option } from 'commander';
import { vpnLine } from '../demo/lines.js';
import { PtimError } from '../errors.js';

export interface SendOptions {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
}

export async function sendLines(lines: readonly (string | Buffer)[], o: SendOptions): Promise<void> {
  if (o.transport === 'udp') {
    const sock = createSocket(o.host.includes(':') ? 'udp6' : 'udp4');
    try {
      for (const l of lines) {
        await new Promise<void>((res, rej) => sock.send(l, o.port, o.host, (e) => (e ? rej(e) : res())));
      }
    } finally {
      sock.close();
    }
    return;
  }
  const s = connect({ host: o.host, port: o.port });
  await once(s, 'connect');
  for (const l of lines) s.write(Buffer.concat([Buffer.isBuffer(l) ? l : Buffer.from(l), Buffer.from('\n')]));
  s.end();
  await once(s, 'close');
}

export function buildSendCommand(): Command {
  return new Command('send')
    .description('send VPN UP/DOWN syslog lines to a bridge (for trying a stack)')
    .option('--host <host>', 'bridge address', '127.0.0.1')
    .option('--port <port>', 'bridge syslog port', portArg, 514)
    .addOption(new Option('--transport <t>', 'udp or tcp').choices(['udp', 'tcp']).default('udp'))
    .addOption(new Option('--kind <kind>', 'up or down').choices(['up', 'down']).default('up'))
    .option('--user <user>', 'AAA username', 'alice@example.com')
    .option('--ip <ip>', 'mapped client IP', ipArg, '10.20.0.42')
    .option('--tunnel-id <n>', 'tunnel id', (v) => Number(v), 500112)
    .option('--file <file>', 'send the lines of this file instead (- for stdin)')
    .action(async (o) => {
      let lines: string[];
      if (o.file) {
        const text =
          o.file === '-'
            ? await readStdin()
            : await readFile(o.file, 'utf8').catch((e: Error) => {
                throw new PtimError('PTIM_ERR_USAGE', `cannot read ${o.file}: ${e.message}`);
              });
        lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
      } else {
        lines = [vpnLine({ kind: o.kind, user: o.user, ip: o.ip, tunnelId: o.tunnelId })];
      }
      await sendLines(lines, { host: o.host, port: o.port, transport: o.transport });
      console.log(`sent ${lines.length} line(s) to ${o.host}:${o.port}/${o.transport}`);
    });
}

function portArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('a port from 1 to 65535');
  return n;
}

function ipArg(v: string): string {
  if (!isIP(v)) throw new InvalidArgumentError('an IPv4 or IPv6 address');
  return v;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
