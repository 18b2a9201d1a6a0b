// The rows of the transition table in sessions.md as data, so the pure model (spec.test.ts) and
// the Lua script (script.test.ts) are held to the very same expectations.
import type { IdentityEvent } from '../../../src/types.js';
import {
  isLine,
  type Decision,
  type LineInput,
  type SessionInput,
  type SessionRules,
  type Session,
} from '../../../src/sessions/model.js';

export const T0 = 1_700_000_000_000;
export const SEC = 1000;
export const rules: SessionRules = { duplicateWindowSecs: 5, sessionIdleSecs: 86_400, forwardOrphanDown: true };

export function line(kind: LineInput['kind'], over: Partial<LineInput> = {}): LineInput {
  return {
    kind,
    ip: '192.0.2.10',
    user: 'alice',
    domain: 'example.com',
    firewall: 'srx-a',
    vpn: 'ra-vpn',
    gateway: 'gw-ra',
    peerIp: '203.0.113.5',
    tunnelId: '131073',
    receivedAt: T0,
    correlationId: 'c-1',
    ...over,
  };
}

export const expire = (correlationId = 'sweep-1'): SessionInput => ({ kind: 'expire', correlationId });

export interface Step {
  readonly input: SessionInput;
  /** Decision time; defaults to the line's receivedAt + 7 ms (expire steps must set it). */
  readonly now?: number;
  readonly decision: Decision;
  readonly emit?: ReadonlyArray<Partial<IdentityEvent>>;
}

export interface Row {
  readonly name: string;
  readonly rules?: Partial<SessionRules>;
  readonly steps: readonly Step[];
  /** Final session (partial match), or null for "no session". */
  readonly session: Partial<Session> | null;
  readonly seq: number;
}

export const stepNow = (s: Step): number => s.now ?? (isLine(s.input) ? s.input.receivedAt + 7 : Number.NaN);

const connectAlice: Step = { input: line('up'), decision: 'connect', emit: [{ kind: 'connect', user: 'alice', seq: 1 }] };

export const rows: readonly Row[] = [
  {
    name: 'up with no session: connect (all fields carried)',
    steps: [
      {
        input: line('up'),
        now: T0 + 3,
        decision: 'connect',
        emit: [
          {
            kind: 'connect',
            ip: '192.0.2.10',
            user: 'alice',
            domain: 'example.com',
            seq: 1,
            firewall: 'srx-a',
            vpn: 'ra-vpn',
            gateway: 'gw-ra',
            peerIp: '203.0.113.5',
            at: T0 + 3,
            receivedAt: T0,
            correlationId: 'c-1',
          },
        ],
      },
    ],
    session: { user: 'alice', tunnels: ['131073'], connectedAt: T0, lastUpAt: T0, lastEventAt: T0 },
    seq: 1,
  },
  {
    name: 'up after the session went down: connect, seq keeps growing',
    steps: [
      connectAlice,
      {
        input: line('down', { receivedAt: T0 + 60 * SEC }),
        decision: 'disconnect',
        emit: [{ kind: 'disconnect', reason: 'down', seq: 2 }],
      },
      { input: line('up', { receivedAt: T0 + 120 * SEC }), decision: 'connect', emit: [{ kind: 'connect', seq: 3 }] },
    ],
    session: { user: 'alice', connectedAt: T0 + 120 * SEC },
    seq: 3,
  },
  {
    name: 'same user within the duplicate window: suppressed, tunnel remembered',
    steps: [
      connectAlice,
      { input: line('up', { receivedAt: T0 + 2 * SEC, tunnelId: '131074' }), decision: 'suppressed', emit: [] },
      { input: line('up', { receivedAt: T0 + 5 * SEC, tunnelId: '131075' }), decision: 'suppressed', emit: [] },
    ],
    session: { tunnels: ['131073', '131074', '131075'], lastUpAt: T0, lastEventAt: T0 + 5 * SEC },
    seq: 1,
  },
  {
    name: 'same user later than the window: rekey (fields refreshed from the line)',
    steps: [
      connectAlice,
      {
        input: line('up', { receivedAt: T0 + 5 * SEC + 1, firewall: 'srx-b', vpn: '' }),
        decision: 'rekey',
        emit: [{ kind: 'rekey', user: 'alice', seq: 2, firewall: 'srx-b', vpn: 'ra-vpn', receivedAt: T0 + 5 * SEC + 1 }],
      },
    ],
    session: { firewall: 'srx-b', vpn: 'ra-vpn', connectedAt: T0, lastUpAt: T0 + 5 * SEC + 1, lastRekeyAt: T0 + 5 * SEC + 1 },
    seq: 2,
  },
  {
    name: 'the window is anchored on the last connect/rekey, not on suppressed duplicates',
    steps: [
      connectAlice,
      { input: line('up', { receivedAt: T0 + 4 * SEC }), decision: 'suppressed', emit: [] },
      { input: line('up', { receivedAt: T0 + 8 * SEC }), decision: 'rekey', emit: [{ kind: 'rekey', seq: 2 }] },
    ],
    session: { lastUpAt: T0 + 8 * SEC },
    seq: 2,
  },
  {
    name: 'up for another user: disconnect(old, replaced) then connect(new)',
    steps: [
      connectAlice,
      {
        input: line('up', { user: 'bob', receivedAt: T0 + 1 * SEC, tunnelId: '200', firewall: 'srx-b' }),
        decision: 'replaced',
        emit: [
          { kind: 'disconnect', user: 'alice', reason: 'replaced', seq: 2, firewall: 'srx-a' },
          { kind: 'connect', user: 'bob', seq: 3, firewall: 'srx-b' },
        ],
      },
    ],
    session: { user: 'bob', tunnels: ['200'], connectedAt: T0 + 1 * SEC },
    seq: 3,
  },
  {
    name: 'same user in another domain is another user',
    steps: [
      connectAlice,
      {
        input: line('up', { domain: 'corp.example.com', receivedAt: T0 + 1 * SEC }),
        decision: 'replaced',
        emit: [
          { kind: 'disconnect', domain: 'example.com', reason: 'replaced', seq: 2 },
          { kind: 'connect', domain: 'corp.example.com', seq: 3 },
        ],
      },
    ],
    session: { domain: 'corp.example.com' },
    seq: 3,
  },
  {
    name: 'down for the same user without a tunnel id: disconnect',
    steps: [
      connectAlice,
      {
        input: line('down', { tunnelId: undefined, receivedAt: T0 + 9 * SEC }),
        decision: 'disconnect',
        emit: [{ kind: 'disconnect', user: 'alice', reason: 'down', seq: 2 }],
      },
    ],
    session: null,
    seq: 2,
  },
  {
    name: 'down closes one tunnel of several: tunnel_down, the last one: disconnect',
    steps: [
      connectAlice,
      { input: line('up', { tunnelId: '131074', receivedAt: T0 + 1 * SEC }), decision: 'suppressed', emit: [] },
      { input: line('down', { tunnelId: '131073', receivedAt: T0 + 30 * SEC }), decision: 'tunnel_down', emit: [] },
      {
        input: line('down', { tunnelId: '131074', receivedAt: T0 + 31 * SEC }),
        decision: 'disconnect',
        emit: [{ kind: 'disconnect', reason: 'down', seq: 2 }],
      },
    ],
    session: null,
    seq: 2,
  },
  {
    name: 'down with an unknown tunnel id while a known one stays open: tunnel_down',
    steps: [
      connectAlice,
      { input: line('down', { tunnelId: '999', receivedAt: T0 + 30 * SEC }), decision: 'tunnel_down', emit: [] },
    ],
    session: { tunnels: ['131073'], lastEventAt: T0 + 30 * SEC },
    seq: 1,
  },
  {
    name: "down with no session: disconnect anyway (orphan), with the line's identity",
    steps: [
      {
        input: line('down', { user: 'carol', receivedAt: T0 }),
        decision: 'orphan_down',
        emit: [{ kind: 'disconnect', user: 'carol', reason: 'orphan-down', seq: 1, firewall: 'srx-a' }],
      },
    ],
    session: null,
    seq: 1,
  },
  {
    name: 'down with no session and forwardOrphanDown false: nothing',
    rules: { forwardOrphanDown: false },
    steps: [{ input: line('down'), decision: 'orphan_down_ignored', emit: [] }],
    session: null,
    seq: 0,
  },
  {
    name: 'down for another user while up: stale, the owner stays',
    steps: [
      connectAlice,
      { input: line('down', { user: 'bob', tunnelId: '131073', receivedAt: T0 + 30 * SEC }), decision: 'stale_down', emit: [] },
    ],
    session: { user: 'alice', tunnels: ['131073'], lastEventAt: T0 },
    seq: 1,
  },
  {
    name: 'rekey-signal while up: rekey, subject to the duplicate window',
    steps: [
      connectAlice,
      { input: line('rekey-signal', { receivedAt: T0 + 3 * SEC, tunnelId: undefined }), decision: 'suppressed', emit: [] },
      {
        input: line('rekey-signal', { receivedAt: T0 + 3600 * SEC, tunnelId: undefined }),
        decision: 'rekey',
        emit: [{ kind: 'rekey', seq: 2 }],
      },
    ],
    session: { lastUpAt: T0 + 3600 * SEC, lastRekeyAt: T0 + 3600 * SEC, tunnels: ['131073'] },
    seq: 2,
  },
  {
    name: 'rekey-signal without a user refreshes the owner; naming another user it is stale',
    steps: [
      connectAlice,
      { input: line('rekey-signal', { user: 'mallory', receivedAt: T0 + 3600 * SEC }), decision: 'stale_rekey', emit: [] },
      {
        input: line('rekey-signal', { user: '', domain: '', receivedAt: T0 + 3601 * SEC }),
        decision: 'rekey',
        emit: [{ kind: 'rekey', user: 'alice', domain: 'example.com', seq: 2 }],
      },
    ],
    session: { user: 'alice', lastUpAt: T0 + 3601 * SEC },
    seq: 2,
  },
  {
    name: 'rekey-signal with no session: nothing',
    steps: [{ input: line('rekey-signal'), decision: 'rekey_no_session', emit: [] }],
    session: null,
    seq: 0,
  },
  {
    name: 'idle past sessionIdleSecs: expired (strictly older than the cut-off)',
    steps: [
      connectAlice,
      { input: expire(), now: T0 + 86_400 * SEC, decision: 'expire_skipped', emit: [] },
      {
        input: expire(),
        now: T0 + 86_400 * SEC + 1,
        decision: 'expired',
        emit: [
          {
            kind: 'disconnect',
            user: 'alice',
            reason: 'expired',
            seq: 2,
            at: T0 + 86_400 * SEC + 1,
            receivedAt: T0 + 86_400 * SEC + 1,
            correlationId: 'sweep-1',
          },
        ],
      },
    ],
    session: null,
    seq: 2,
  },
  {
    name: 'a rekey before the sweep wins: not expired',
    steps: [
      connectAlice,
      { input: line('up', { receivedAt: T0 + 86_000 * SEC }), decision: 'rekey', emit: [{ kind: 'rekey', seq: 2 }] },
      { input: expire(), now: T0 + 86_401 * SEC, decision: 'expire_skipped', emit: [] },
      { input: expire(), now: T0 + (86_000 + 86_400) * SEC, decision: 'expire_skipped', emit: [] },
    ],
    session: { lastUpAt: T0 + 86_000 * SEC },
    seq: 2,
  },
  {
    name: 'expire with no session: nothing',
    steps: [{ input: expire(), now: T0, decision: 'expire_skipped', emit: [] }],
    session: null,
    seq: 0,
  },
];
