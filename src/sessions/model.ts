// The pure reference model of the session transition table.
// The Lua script in script.ts is the production implementation; this model is what tests and
// the property test compare it with, so the two must agree decision for decision.
import type { SessionsConfig } from '../config/schema.js';
import type { EpochMs, IdentityEvent, JournalRef } from '../types.js';

export type SessionRules = Pick<SessionsConfig, 'duplicateWindowSecs' | 'sessionIdleSecs' | 'forwardOrphanDown'>;

/** Who holds an IP and where they came in: named by a line, kept by a session, copied into events. */
export interface Holder {
  /** Canonical IP text. */
  readonly ip: string;
  readonly user: string;
  readonly domain: string;
  readonly firewall: string;
  readonly vpn?: string;
  readonly gateway?: string;
  readonly peerIp?: string;
}

/** The identity of one IP while it is mapped to a user. Absent when the IP is down. */
export interface Session extends Holder {
  /** Tunnel ids of UP lines not yet closed, sorted (a set). */
  readonly tunnels: readonly string[];
  readonly connectedAt: EpochMs;
  /** Receive time of the UP/rekey that last emitted connect or rekey: anchors the duplicate window and expiry. */
  readonly lastUpAt: EpochMs;
  readonly lastRekeyAt?: EpochMs;
  /** Receive time of the last line that changed this session (suppressed duplicates included). */
  readonly lastEventAt: EpochMs;
}

/**
 * Everything kept for one IP. `seq` and `lastAt` outlive the session (until the IP's bookkeeping is
 * pruned; then its next seq starts above the keyspace's seq floor, so seq only ever grows).
 */
export interface IpState {
  readonly seq: number;
  /** Receive time of the last line applied: a line received before it is refused (`out_of_order`). */
  readonly lastAt?: EpochMs;
  readonly session?: Session;
}

export interface LineInput extends Holder {
  readonly kind: 'up' | 'down' | 'rekey-signal';
  readonly tunnelId?: string;
  readonly receivedAt: EpochMs;
  readonly correlationId: string;
  /**
   * Only the Redis side reads it: a replayed event is skipped, not re-decided (script.ts). `part`:
   * the input's place among its event's IPs (an event gives one input per IP, all with its id).
   */
  readonly journal?: JournalRef & { readonly part?: number };
}

/** Inputs that come from the bridge itself, not from a line: the sweeper's expiry, resync and refresh. */
export interface BridgeInput {
  readonly kind: 'expire' | 'resync' | 'refresh';
  readonly correlationId: string;
}

export type SessionInput = LineInput | BridgeInput;

export const isLine = (input: SessionInput): input is LineInput =>
  input.kind !== 'expire' && input.kind !== 'resync' && input.kind !== 'refresh';

export const DECISIONS = [
  'connect',
  'rekey',
  'suppressed',
  'replaced',
  'disconnect',
  'tunnel_down',
  'stale_down',
  'orphan_down',
  'orphan_down_ignored',
  'rekey_no_session',
  /** A rekey-signal naming another user than the session's: never refresh the wrong identity. */
  'stale_rekey',
  'expired',
  /** The sweeper found the session refreshed (a late UP won) or already gone. */
  'expire_skipped',
  /** A line received before the IP's last applied one: refused, nothing changes. */
  'out_of_order',
  /** `resync` / the periodic refresh told JIMS of the session again (a rekey with a new seq). */
  'resynced',
  'refreshed',
  /** Resync or refresh of an IP whose session ended meanwhile. */
  'resync_skipped',
] as const;
export type Decision = (typeof DECISIONS)[number];

export interface Transition {
  readonly state: IpState;
  readonly emit: IdentityEvent[];
  readonly decision: Decision;
}

/** Optional text fields: '' and undefined both mean "absent" (the Lua side cannot tell them apart). */
function opt(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function withTunnel(tunnels: readonly string[], id: string | undefined): string[] {
  const t = opt(id);
  return t === undefined || tunnels.includes(t) ? [...tunnels] : [...tunnels, t].sort();
}

function newSession(line: LineInput): Session {
  return {
    ip: line.ip,
    user: line.user,
    domain: line.domain,
    firewall: line.firewall,
    vpn: opt(line.vpn),
    gateway: opt(line.gateway),
    peerIp: opt(line.peerIp),
    tunnels: withTunnel([], line.tunnelId),
    connectedAt: line.receivedAt,
    lastUpAt: line.receivedAt,
    lastEventAt: line.receivedAt,
  };
}

/** Builds the emitted events in order, each with the next seq of the IP. */
function emitter(startSeq: number, now: EpochMs, correlationId: string) {
  let seq = startSeq;
  const events: IdentityEvent[] = [];
  const emit = (kind: IdentityEvent['kind'], who: Holder, receivedAt: EpochMs, reason?: string) => {
    seq += 1;
    const ev: IdentityEvent = {
      kind,
      ip: who.ip,
      user: who.user,
      domain: who.domain,
      seq,
      firewall: who.firewall,
      ...(opt(who.vpn) !== undefined && { vpn: who.vpn }),
      ...(opt(who.gateway) !== undefined && { gateway: who.gateway }),
      ...(opt(who.peerIp) !== undefined && { peerIp: who.peerIp }),
      ...(reason !== undefined && { reason }),
      at: now,
      receivedAt,
      correlationId,
    };
    events.push(ev);
  };
  return { emit, events, seq: () => seq };
}

const sameUser = (s: Session, line: LineInput) => s.user === line.user && s.domain === line.domain;

/**
 * Decides what JIMS must hear about one IP. Windows and expiry use the bridge receive time of
 * the line (`receivedAt`); `now` is only the decision time stamped on emitted events (and the
 * sweep time for `expire`). A line received before the IP's last applied one is refused
 * (`out_of_order`, nothing changes). Never throws.
 */
export function transition(state: IpState | undefined, input: SessionInput, cfg: SessionRules, now: EpochMs): Transition {
  const prev: IpState = state ?? { seq: 0 };
  if (!isLine(input)) return bridgeTransition(prev, input, cfg, now);
  if (prev.lastAt !== undefined && input.receivedAt < prev.lastAt) return { state: prev, emit: [], decision: 'out_of_order' };
  const t = lineTransition(prev, input, cfg, now);
  return { ...t, state: { ...t.state, lastAt: input.receivedAt } };
}

/** Keeps the IP's state beside the emitted events: seq, lastAt and the session left. */
function stateKeeper(prev: IpState, now: EpochMs, correlationId: string) {
  const out = emitter(prev.seq, now, correlationId);
  const done = (decision: Decision, session: Session | undefined): Transition => ({
    state: {
      seq: out.seq(),
      ...(prev.lastAt !== undefined && { lastAt: prev.lastAt }),
      ...(session && { session }),
    },
    emit: out.events,
    decision,
  });
  return { out, done };
}

/** Expiry (sweeper), resync and refresh: decided at `now`, never refused as out of order. */
function bridgeTransition(prev: IpState, input: BridgeInput, cfg: SessionRules, now: EpochMs): Transition {
  const s = prev.session;
  const { out, done } = stateKeeper(prev, now, input.correlationId);
  if (input.kind !== 'expire') {
    if (!s) return done('resync_skipped', undefined);
    out.emit('rekey', s, now, input.kind);
    return done(input.kind === 'refresh' ? 'refreshed' : 'resynced', s);
  }
  if (!s || !(s.lastUpAt < now - cfg.sessionIdleSecs * 1000)) return done('expire_skipped', s);
  out.emit('disconnect', s, now, 'expired');
  return done('expired', undefined);
}

/** The transition table for a line in order (its `lastAt` is set by the caller). */
function lineTransition(prev: IpState, line: LineInput, cfg: SessionRules, now: EpochMs): Transition {
  const s = prev.session;
  const { out, done } = stateKeeper(prev, now, line.correlationId);
  const windowMs = cfg.duplicateWindowSecs * 1000;
  // A repeated UP (or rekey signal) refreshes the session unless it falls in the duplicate window.
  const refresh = (cur: Session): Transition => {
    const tunnels = withTunnel(cur.tunnels, line.tunnelId);
    if (line.receivedAt - cur.lastUpAt <= windowMs) {
      return done('suppressed', { ...cur, tunnels, lastEventAt: line.receivedAt });
    }
    const next: Session = {
      ...cur,
      firewall: line.firewall,
      vpn: opt(line.vpn) ?? cur.vpn,
      gateway: opt(line.gateway) ?? cur.gateway,
      peerIp: opt(line.peerIp) ?? cur.peerIp,
      tunnels,
      lastUpAt: line.receivedAt,
      lastRekeyAt: line.receivedAt,
      lastEventAt: line.receivedAt,
    };
    out.emit('rekey', next, line.receivedAt);
    return done('rekey', next);
  };

  switch (line.kind) {
    case 'up': {
      if (!s) {
        const n = newSession(line);
        out.emit('connect', n, line.receivedAt);
        return done('connect', n);
      }
      if (sameUser(s, line)) return refresh(s);
      out.emit('disconnect', s, line.receivedAt, 'replaced');
      const n = newSession(line);
      out.emit('connect', n, line.receivedAt);
      return done('replaced', n);
    }
    case 'rekey-signal': {
      if (!s) return done('rekey_no_session', undefined);
      // A signal without a user (e.g. an SA line naming only the IP) refreshes whoever holds the IP.
      if (line.user !== '' && !sameUser(s, line)) return done('stale_rekey', s);
      return refresh(s);
    }
    case 'down': {
      if (!s) {
        if (!cfg.forwardOrphanDown) return done('orphan_down_ignored', undefined);
        out.emit('disconnect', { ...line }, line.receivedAt, 'orphan-down');
        return done('orphan_down', undefined);
      }
      if (!sameUser(s, line)) return done('stale_down', s);
      const id = opt(line.tunnelId);
      const tunnels = id === undefined ? [] : s.tunnels.filter((t) => t !== id);
      if (tunnels.length > 0) return done('tunnel_down', { ...s, tunnels, lastEventAt: line.receivedAt });
      out.emit('disconnect', s, line.receivedAt, 'down');
      return done('disconnect', undefined);
    }
  }
}
