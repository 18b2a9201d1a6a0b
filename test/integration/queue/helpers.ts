// Test doubles and plumbing for the queue tests: a scripted IdentityPusher (the boundary to the
// JIMS client), outbox writers, and condition waits with a bound (never a sleep).
import type { Redis } from 'ioredis';
import { keyspace } from '../../../src/redis/keys.js';
import { waitFor as waitForCondition } from '../../helpers/wait.js';
import type { IdentityEvent, IdentityPusher, PushOutcome } from '../../../src/types.js';

export type Script = (event: IdentityEvent, callIndex: number) => PushOutcome | Promise<PushOutcome>;

export const delivered = (server = 'jims-a'): PushOutcome => ({ result: 'delivered', status: 200, server });

export interface PushCall {
  readonly event: IdentityEvent;
  readonly index: number;
  outcome?: PushOutcome;
}

/**
 * Records every push, answers from a script, and checks the delivery invariants as it goes:
 * never two pushes for one IP at once, never an older seq for an IP after a newer one.
 */
export class ScriptedPusher implements IdentityPusher {
  readonly calls: PushCall[] = [];
  readonly violations: string[] = [];
  private readonly inFlight = new Map<string, number>();
  private readonly highest = new Map<string, number>();
  private gates = new Map<number, { promise: Promise<void>; release: () => void }>();
  closed = false;

  constructor(private script: Script = () => delivered()) {}

  setScript(script: Script): void {
    this.script = script;
  }

  /** Makes call number `index` (0-based) wait until the returned function is called. */
  hold(index: number): () => void {
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.gates.set(index, { promise, release });
    return release;
  }

  async push(event: IdentityEvent): Promise<PushOutcome> {
    const index = this.calls.length;
    const call: PushCall = { event, index };
    this.calls.push(call);
    const n = (this.inFlight.get(event.ip) ?? 0) + 1;
    this.inFlight.set(event.ip, n);
    if (n > 1) this.violations.push(`concurrent pushes for ${event.ip} (seq ${event.seq})`);
    const hi = this.highest.get(event.ip) ?? 0;
    if (event.seq < hi) this.violations.push(`${event.ip}: seq ${event.seq} pushed after seq ${hi}`);
    this.highest.set(event.ip, Math.max(hi, event.seq));
    try {
      const gate = this.gates.get(index);
      if (gate) await gate.promise;
      const outcome = await this.script(event, index);
      call.outcome = outcome;
      return outcome;
    } finally {
      this.inFlight.set(event.ip, (this.inFlight.get(event.ip) ?? 1) - 1);
    }
  }

  seqsFor(ip: string): number[] {
    return this.calls.filter((c) => c.event.ip === ip).map((c) => c.event.seq);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export function identityEvent(over: Partial<IdentityEvent> & { ip: string; seq: number }): IdentityEvent {
  return {
    kind: 'connect',
    user: 'alice',
    domain: 'example.com',
    firewall: 'srx-1',
    at: 1_700_000_000_000,
    receivedAt: 1_700_000_000_000,
    correlationId: `c-${over.ip}-${over.seq}`,
    ...over,
  };
}

/** Appends an outbox entry in the session engine's format. */
export async function xaddOutbox(redis: Redis, keyPrefix: string, ipKey: string, event: IdentityEvent): Promise<string> {
  const id = await redis.xadd(keyspace(keyPrefix).outbox, '*', 'ipKey', ipKey, 'event', JSON.stringify(event));
  if (!id) throw new Error('XADD returned no id');
  return id;
}

/** Polls `cond` until it holds or `timeoutMs` passes (then throws with `what`). */
export const waitFor = (cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) =>
  waitForCondition(cond, { what, timeoutMs });
