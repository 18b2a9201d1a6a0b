// Ports the configuration will bind, tried before anything slow starts, so a port already in
// use (or one that needs privilege) is reported with every other problem, naming its setting.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Problem } from '../errors.js';
import { listening } from '../net/listening.js';
import type { Config } from './schema.js';

export interface PortUse {
  /** The setting to change, e.g. `ingest.tcp.port`. */
  readonly setting: string;
  readonly protocol: 'udp' | 'tcp';
  readonly address: string;
  readonly port: number;
}

/** Every address/port this process will bind (port 0, "any free port", is left out). */
export function portsOf(config: Config): PortUse[] {
  const out: PortUse[] = [];
  const add = (setting: string, protocol: 'udp' | 'tcp', binds: readonly string[], port: number) => {
    if (port !== 0) for (const address of binds) out.push({ setting, protocol, address, port });
  };
  const ing = config.ingest;
  if (config.roles.includes('ingest')) {
    if (ing.udp.enabled) add('ingest.udp.port', 'udp', ing.udp.bind, ing.udp.port);
    if (ing.tcp.enabled) add('ingest.tcp.port', 'tcp', ing.tcp.bind, ing.tcp.port);
    if (ing.tls.enabled) add('ingest.tls.port', 'tcp', ing.tls.bind, ing.tls.port);
  }
  if (config.ops.enabled) add('ops.port', 'tcp', [config.ops.host], config.ops.port);
  return out;
}

function why(e: NodeJS.ErrnoException, u: PortUse): string {
  const where = `${u.protocol.toUpperCase()} ${u.address} port ${u.port}`;
  if (e.code === 'EADDRINUSE') return `${where} is already in use (another process, or another setting here)`;
  if (e.code === 'EACCES') return `${where} needs privilege (ports below 1024): use a higher port or grant CAP_NET_BIND_SERVICE`;
  if (e.code === 'EADDRNOTAVAIL') return `${where}: the address is not on this host`;
  return `${where}: ${e.message}`;
}

/** Binds each port in turn, holding them all until done (so two settings on one port clash), then releases them. */
export async function probePorts(uses: readonly PortUse[]): Promise<Problem[]> {
  const problems: Problem[] = [];
  const held: (() => Promise<void>)[] = [];
  try {
    for (const u of uses) {
      const ipv6Only = u.address.includes(':');
      try {
        if (u.protocol === 'udp') {
          const s = createSocket({ type: ipv6Only ? 'udp6' : 'udp4', ipv6Only });
          held.push(() => new Promise<void>((r) => s.close(() => r())));
          await listening(s, () => s.bind({ address: u.address, port: u.port, exclusive: true }));
        } else {
          const s = createServer();
          held.push(() => new Promise<void>((r) => s.close(() => r())));
          await listening(s, () => s.listen({ host: u.address, port: u.port, ipv6Only, exclusive: true }));
        }
      } catch (e) {
        held.pop();
        problems.push({ path: u.setting, message: why(e as NodeJS.ErrnoException, u) });
      }
    }
  } finally {
    await Promise.all(held.map((close) => close()));
  }
  return problems;
}
