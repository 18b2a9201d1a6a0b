import { describe, expect, it } from 'vitest';
import { createConnectionTable, type TrackedConnection } from '../../../src/ingest/connections.js';

const conn = (source: string, lastMessageAt: number, firewall = false): TrackedConnection => ({
  source,
  firewall,
  lastMessageAt,
});

describe('connection table', () => {
  it('caps each source and the table', () => {
    const t = createConnectionTable({ maxConnections: 3, maxConnectionsPerSource: 2 });
    expect(t.admit(conn('a', 0))).toEqual({ admitted: true });
    expect(t.admit(conn('a', 0))).toEqual({ admitted: true });
    expect(t.admit(conn('a', 0))).toEqual({ admitted: false, reason: 'source_connection_limit' });
    expect(t.admit(conn('b', 0))).toEqual({ admitted: true });
    expect(t.admit(conn('c', 0))).toEqual({ admitted: false, reason: 'connection_limit' });
    expect(t.size()).toBe(3);
  });

  it('lets a firewall in by evicting the longest-idle non-firewall connection, never a firewall', () => {
    const t = createConnectionTable({ maxConnections: 3, maxConnectionsPerSource: 10 });
    const fw1 = conn('fw1', 0, true);
    const busy = conn('a', 50);
    const idle = conn('b', 10);
    for (const c of [fw1, busy, idle]) t.admit(c);
    const fw2 = conn('fw2', 100, true);
    expect(t.admit(fw2)).toEqual({ admitted: true, evicted: idle });
    expect(t.admit(conn('fw3', 100, true))).toEqual({ admitted: true, evicted: busy });
    expect(t.admit(conn('fw4', 100, true))).toEqual({ admitted: false, reason: 'connection_limit' });
    expect(t.size()).toBe(3);
  });

  it('frees slots once, also for an evicted connection', () => {
    const t = createConnectionTable({ maxConnections: 1, maxConnectionsPerSource: 1 });
    const a = conn('a', 0);
    t.admit(a);
    const r = t.admit(conn('fw', 1, true));
    expect(r).toEqual({ admitted: true, evicted: a });
    t.release(a);
    t.release(a);
    expect(t.size()).toBe(1);
    expect(t.admit(conn('a', 2))).toEqual({ admitted: false, reason: 'connection_limit' });
  });
});
