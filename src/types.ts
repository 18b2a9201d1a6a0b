// The data shapes that flow between the stages (the data flow is in the README, "How it decides"
// and "Threading model").
// Every stage depends on this file; this file depends on nothing.

/** Milliseconds since the Unix epoch. Time is always passed in, never read in pure code. */
export type EpochMs = number;

export type Transport = 'udp' | 'tcp' | 'tls';

/** One syslog message as framed by a receiver, before any parsing. */
export interface RawMessage {
  /** The message bytes, without framing (no octet count, no trailing LF/CRLF). */
  readonly bytes: Buffer;
  readonly transport: Transport;
  /** Sender address as seen by the socket (IPv4-mapped IPv6 already unmapped). */
  readonly sourceIp: string;
  readonly sourcePort: number;
  /** The bridge's receive time; used for ordering and expiry. */
  readonly receivedAt: EpochMs;
  /** True when the receiver cut the message at `maxMessageBytes`. */
  readonly truncated: boolean;
  /** Firewall name configured for the source address (`firewalls:`), if any. */
  readonly firewall?: string;
}

export type SyslogFormat = 'rfc5424' | 'rfc3164' | 'unknown';

/** Structured data: SD-ID → params (param names may repeat; last one wins here). */
export type StructuredData = ReadonlyArray<{ readonly id: string; readonly params: Readonly<Record<string, string>> }>;

/** Result of the pure syslog parser. Never thrown; fields that could not be read are undefined. */
export interface SyslogMessage {
  readonly format: SyslogFormat;
  /** PRI value (facility * 8 + severity) when present. */
  readonly pri?: number;
  /** Timestamp text as the device wrote it (display only: device clocks are not trusted). */
  readonly timestamp?: string;
  readonly hostname?: string;
  /** Process name, e.g. `kmd` or `iked`. */
  readonly appName?: string;
  readonly procId?: string;
  /** Junos event tag, e.g. `KMD_VPN_UP_ALARM_USER` (RFC 5424 MSGID, or the `TAG:` of a BSD line). */
  readonly msgId?: string;
  readonly structuredData: StructuredData;
  /** Free text after the tag. Invalid UTF-8 is decoded as latin1 per byte so no byte is lost. */
  readonly text: string;
}

export type VpnEventKind = 'up' | 'down' | 'rekey-signal';

/** A matched, normalized VPN line: the input of the session engine. */
export interface VpnEvent {
  readonly kind: VpnEventKind;
  /** Normalized username without domain, e.g. `alice`. */
  readonly user: string;
  /** Resolved domain, e.g. `example.com` (may be '' when nothing is configured). */
  readonly domain: string;
  /** Mapped client IPs (one per family at most); each is its own session. */
  readonly ips: readonly string[];
  /** Firewall name: configured name for the source address, else the syslog hostname, else the source IP. */
  readonly firewall: string;
  readonly vpn?: string;
  readonly gateway?: string;
  readonly peerIp?: string;
  readonly tunnelId?: string;
  readonly reason?: string;
  /** Pattern that produced this event. */
  readonly patternId: string;
  readonly receivedAt: EpochMs;
  readonly deviceTime?: string;
  /**
   * The line it came from, for the operator's per-IP history only (the session engine ignores it):
   * set where the matcher thread hands events on, since the raw line never leaves that thread.
   */
  readonly line?: LineSource;
  /** Set by the session journal: lets Redis recognise an event it already applied when it is replayed. */
  readonly journal?: JournalRef;
}

/** Where a line came from and its first characters (HISTORY_TEXT_CHARS). */
export interface LineSource {
  readonly transport: Transport;
  readonly sourceIp: string;
  readonly text: string;
}

/** Where an event sits in a session journal: ids only grow within one journal `instance`. */
export interface JournalRef {
  readonly instance: string;
  readonly id: number;
}

export type IdentityEventKind = 'connect' | 'rekey' | 'disconnect';

/** What JIMS must hear about one IP; produced by the session engine, pushed by workers. */
export interface IdentityEvent {
  readonly kind: IdentityEventKind;
  readonly ip: string;
  readonly user: string;
  readonly domain: string;
  /** Per-IP sequence number; only ever grows. */
  readonly seq: number;
  readonly firewall: string;
  readonly vpn?: string;
  readonly gateway?: string;
  readonly peerIp?: string;
  /** For disconnects: `down`, `replaced`, `expired`, `orphan-down`. */
  readonly reason?: string;
  /** When the bridge decided this event. */
  readonly at: EpochMs;
  /** When the syslog line that caused it was received (for end-to-end latency). */
  readonly receivedAt: EpochMs;
  /** Correlation id of the syslog line (or sweeper run) that caused it. */
  readonly correlationId: string;
}

/** Outcome of one push attempt, as classified by the pure response classifier. */
export type PushOutcome =
  | { readonly result: 'delivered'; readonly status: number; readonly server: string }
  | { readonly result: 'retry'; readonly reason: string; readonly retryAfterMs?: number; readonly server: string }
  | { readonly result: 'permanent'; readonly reason: string; readonly status?: number; readonly server: string };

/** The boundary between the queue workers and the JIMS client. */
export interface IdentityPusher {
  push(event: IdentityEvent): Promise<PushOutcome>;
  close(): Promise<void>;
}

export interface Clock {
  now(): EpochMs;
}

export const systemClock: Clock = { now: () => Date.now() };
