// Who gets a TCP/TLS connection slot. Shared by every stream listener, so the limits bound the
// process as a whole. Pure bookkeeping: the receiver closes what the table says to close.
//
// A source may hold at most `maxPerSource` connections, so one busy or hostile address cannot
// take the whole table. When the table is full, a configured firewall (`firewalls:`) still gets
// in: it takes the slot of the connection from a non-firewall source that has gone longest
// without delivering a message (a slow drip of bytes that never completes one is idle too).

/** What the table knows about one open connection. */
export interface TrackedConnection {
  readonly source: string;
  /** From a configured firewall: never evicted. */
  readonly firewall: boolean;
  /** When it opened or last delivered a complete message (ms, injected clock). */
  lastMessageAt: number;
}

export type Admission =
  | { readonly admitted: true; readonly evicted?: TrackedConnection }
  | { readonly admitted: false; readonly reason: 'connection_limit' | 'source_connection_limit' };

export interface ConnectionTable {
  /** Takes a slot for `c`, possibly by evicting another (the caller closes the evicted one). */
  admit(c: TrackedConnection): Admission;
  /** Frees the slot; safe to call twice or for an evicted connection. */
  release(c: TrackedConnection): void;
  size(): number;
}

export interface ConnectionLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerSource: number;
}

export function createConnectionTable(limits: ConnectionLimits): ConnectionTable {
  const open = new Set<TrackedConnection>();
  const perSource = new Map<string, number>();

  const add = (c: TrackedConnection) => {
    open.add(c);
    perSource.set(c.source, (perSource.get(c.source) ?? 0) + 1);
  };
  const release = (c: TrackedConnection) => {
    if (!open.delete(c)) return;
    const n = (perSource.get(c.source) ?? 1) - 1;
    if (n > 0) perSource.set(c.source, n);
    else perSource.delete(c.source);
  };

  /** The non-firewall connection that has gone longest without a message. */
  const longestIdle = (): TrackedConnection | undefined => {
    let victim: TrackedConnection | undefined;
    for (const c of open) if (!c.firewall && (victim === undefined || c.lastMessageAt < victim.lastMessageAt)) victim = c;
    return victim;
  };

  return {
    admit(c) {
      if ((perSource.get(c.source) ?? 0) >= limits.maxConnectionsPerSource) {
        return { admitted: false, reason: 'source_connection_limit' };
      }
      if (open.size < limits.maxConnections) {
        add(c);
        return { admitted: true };
      }
      const victim = c.firewall ? longestIdle() : undefined;
      if (victim === undefined) return { admitted: false, reason: 'connection_limit' };
      release(victim);
      add(c);
      return { admitted: true, evicted: victim };
    },
    release,
    size: () => open.size,
  };
}
