// Datagrams the kernel dropped because a UDP socket's receive queue was full: Linux counts them
// per socket in the last column (`drops`) of /proc/net/udp and /proc/net/udp6 and nowhere else.
// The bridge's own sockets are the rows whose inode is one of this process's socket fds and whose
// local port is a port it listens on (the port alone could be another process's SO_REUSEPORT twin).
import { readdir, readFile, readlink } from 'node:fs/promises';

export interface UdpSocketRow {
  readonly localPort: number;
  readonly inode: number;
  readonly drops: number;
}

/** Rows of /proc/net/udp or udp6 text; lines that do not parse are skipped. */
export function parseProcNetUdp(text: string): UdpSocketRow[] {
  const out: UdpSocketRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    if (f.length < 13) continue;
    const port = parseInt(f[1]!.split(':')[1] ?? '', 16);
    const inode = Number(f[9]);
    const drops = Number(f[f.length - 1]);
    if (Number.isFinite(port) && Number.isFinite(inode) && Number.isFinite(drops)) out.push({ localPort: port, inode, drops });
  }
  return out;
}

/** Inodes of this process's sockets (`socket:[12345]` links in /proc/self/fd). */
async function ownSocketInodes(): Promise<Set<number>> {
  const inodes = new Set<number>();
  const fds = await readdir('/proc/self/fd').catch(() => [] as string[]);
  await Promise.all(
    fds.map(async (fd) => {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m) inodes.add(Number(m[1]));
    }),
  );
  return inodes;
}

/** Total kernel drops of this process's UDP sockets on `ports`; undefined where /proc is missing. */
export async function readKernelDrops(ports: readonly number[]): Promise<number | undefined> {
  const texts = await Promise.all(['/proc/net/udp', '/proc/net/udp6'].map((f) => readFile(f, 'utf8').catch(() => undefined)));
  if (texts.every((t) => t === undefined)) return undefined;
  const inodes = await ownSocketInodes();
  const wanted = new Set(ports);
  let total = 0;
  for (const t of texts)
    for (const row of t === undefined ? [] : parseProcNetUdp(t))
      if (wanted.has(row.localPort) && inodes.has(row.inode)) total += row.drops;
  return total;
}

/**
 * Turns the kernel's cumulative figure into counter increments. A figure that went down means the
 * sockets were re-created (counted from zero again), so all of it is new.
 */
export function dropsDelta(previous: number, current: number): number {
  return current >= previous ? current - previous : current;
}
