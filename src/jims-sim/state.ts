// The simulated JIMS identity table: what a logon or logoff does to it, counters, and an ordered
// log of applied operations (tests check per-IP ordering against it). No I/O; time is passed in.

export interface SimIdentity {
  readonly user: string;
  readonly domain: string;
  /** When the mapping was created or last refreshed. */
  readonly updatedAt: number;
}

export type SimOperation = 'logon' | 'logoff';
export type SimOpResult = 'added' | 'replaced' | 'refreshed' | 'removed' | 'ignored';

export interface SimOpLogEntry {
  readonly at: number;
  readonly op: SimOperation;
  readonly ip: string;
  readonly user: string;
  readonly domain: string;
  readonly result: SimOpResult;
  /** `{{seq}}` / `{{event}}` when the template carries them. */
  readonly seq?: string;
  readonly event?: string;
  readonly clientId?: string;
}

export interface SimCounters {
  tokens: number;
  tokenRejects: number;
  /** Push entries applied (a request may carry many). */
  pushes: number;
  /** Push requests applied. */
  pushRequests: number;
  logons: number;
  logoffs: number;
  refreshes: number;
  replaced: number;
  logoffsIgnored: number;
  /** Push requests refused: unauthorized + malformed. */
  rejects: number;
  unauthorized: number;
  malformed: number;
  errorsInjected: number;
  statusInjected: number;
  recorded: number;
  dropped: number;
  hung: number;
}

export const emptyCounters = (): SimCounters => ({
  tokens: 0,
  tokenRejects: 0,
  pushes: 0,
  pushRequests: 0,
  logons: 0,
  logoffs: 0,
  refreshes: 0,
  replaced: 0,
  logoffsIgnored: 0,
  rejects: 0,
  unauthorized: 0,
  malformed: 0,
  errorsInjected: 0,
  statusInjected: 0,
  recorded: 0,
  dropped: 0,
  hung: 0,
});

export class SimIdentityTable {
  private table = new Map<string, SimIdentity>();
  private log: SimOpLogEntry[] = [];

  constructor(
    readonly counters: SimCounters,
    private readonly maxLog = 100_000,
  ) {}

  apply(
    op: SimOperation,
    ip: string,
    user: string,
    domain: string,
    at: number,
    extra: { seq?: string; event?: string; clientId?: string } = {},
  ): SimOpResult {
    const cur = this.table.get(ip);
    let result: SimOpResult;
    if (op === 'logon') {
      if (cur && cur.user === user && cur.domain === domain) {
        result = 'refreshed';
        this.counters.refreshes++;
      } else {
        result = cur ? 'replaced' : 'added';
        this.counters.logons++;
        if (cur) this.counters.replaced++;
      }
      this.table.set(ip, { user, domain, updatedAt: at });
    } else if (cur && cur.user === user) {
      // JIMS removes a mapping only for the user it belongs to; a late logoff of a previous user is ignored.
      result = 'removed';
      this.counters.logoffs++;
      this.table.delete(ip);
    } else {
      result = 'ignored';
      this.counters.logoffsIgnored++;
    }
    this.log.push({ at, op, ip, user, domain, result, ...extra });
    if (this.log.length > this.maxLog) this.log.splice(0, this.log.length - this.maxLog);
    return result;
  }

  identities(): Record<string, SimIdentity> {
    return Object.fromEntries(this.table);
  }

  operations(): readonly SimOpLogEntry[] {
    return this.log;
  }

  clear(): void {
    this.table.clear();
    this.log = [];
  }
}
