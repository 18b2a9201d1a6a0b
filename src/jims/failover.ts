// Which JIMS server is in use, as the firewall does it: the primary until it fails N times in a
// row, then the secondary while the primary is probed every interval; back to the primary as soon
// as a probe succeeds. No I/O and no clock: the caller reports results and passes the time in.

export type ServerName = 'primary' | 'secondary';

export interface FailoverOptions {
  hasSecondary: boolean;
  failoverAfterFailures: number;
  probeIntervalMs: number;
}

export interface Transition {
  readonly from: ServerName;
  readonly to: ServerName;
  readonly reason: string;
}

export class FailoverState {
  private current: ServerName = 'primary';
  private consecutiveFailures = 0;
  private lastProbeAt = 0;
  private probing = false;

  constructor(private readonly opts: FailoverOptions) {}

  active(): ServerName {
    return this.current;
  }

  /** Consecutive failover-counting failures of the active server. */
  failures(): number {
    return this.consecutiveFailures;
  }

  /** A push or token request on `server` succeeded. */
  recordSuccess(server: ServerName): void {
    if (server === this.current) this.consecutiveFailures = 0;
  }

  /**
   * A failure that counts toward failover happened on `server`. Results of requests that were still in
   * flight on the other server when we switched are ignored: they say nothing about the active one.
   */
  recordFailure(server: ServerName, now: number): Transition | undefined {
    if (server !== this.current) return undefined;
    this.consecutiveFailures++;
    if (this.current === 'primary' && this.opts.hasSecondary && this.consecutiveFailures >= this.opts.failoverAfterFailures) {
      this.current = 'secondary';
      this.consecutiveFailures = 0;
      this.lastProbeAt = now;
      return { from: 'primary', to: 'secondary', reason: `${this.opts.failoverAfterFailures} consecutive failures` };
    }
    return undefined;
  }

  /** True when the primary should be probed now; the caller then calls probeStarted. */
  probeDue(now: number): boolean {
    return this.current === 'secondary' && !this.probing && now - this.lastProbeAt >= this.opts.probeIntervalMs;
  }

  probeStarted(now: number): void {
    this.probing = true;
    this.lastProbeAt = now;
  }

  probeFinished(ok: boolean, now: number): Transition | undefined {
    this.probing = false;
    this.lastProbeAt = now;
    if (!ok || this.current !== 'secondary') return undefined;
    this.current = 'primary';
    this.consecutiveFailures = 0;
    return { from: 'secondary', to: 'primary', reason: 'primary answered a probe' };
  }
}
