// `replay`: archived syslog lines through the production pipeline, in order, at their device time,
// into a sink (the session engine, or the in-memory model for --dry-run). Lines an earlier run
// already replayed (per firewall, up to its last device time) and lines older than --since are
// left out, so a second run changes nothing.
import type { IgnoredReason } from '../identity/normalize.js';
import type { Pipeline } from '../pipeline.js';
import { parseSyslog } from '../syslog/parse.js';
import type { RawMessage, VpnEvent } from '../types.js';
import { deviceTimeMs } from './time.js';

export interface ReplaySink {
  /** Takes one event; resolving means it can take the next (backpressure). */
  apply(event: VpnEvent): Promise<void> | void;
}

export interface ReplayCounts {
  lines: number;
  /** No pattern literal in the line (flow logs and other traffic): not parsed further. */
  skipped: number;
  /** VPN-looking lines whose header has no date (e.g. `show log` output). */
  noTime: number;
  /** Older than --since. */
  tooOld: number;
  /** At or before the last device time an earlier run replayed for that firewall. */
  alreadyReplayed: number;
  nearMisses: number;
  ignored: Partial<Record<IgnoredReason, number>>;
  /** Events handed to the sink. */
  events: number;
}

export interface ReplayOptions {
  readonly pipeline: Pipeline;
  readonly sink: ReplaySink;
  /** Epoch ms: the reference for BSD years. */
  readonly now: number;
  /** Epoch ms: lines older than this are not replayed. */
  readonly since: number;
  /** Per firewall: the device time up to which an earlier run replayed. */
  readonly marks: ReadonlyMap<string, number>;
  /** Name every line's firewall (archives carry no source address; the hostname is used otherwise). */
  readonly firewall?: string;
}

export interface ReplayResult {
  readonly counts: ReplayCounts;
  /** Per firewall: the latest device time replayed in this run (merge into the stored marks). */
  readonly marks: Map<string, number>;
}

export function emptyCounts(): ReplayCounts {
  return { lines: 0, skipped: 0, noTime: 0, tooOld: 0, alreadyReplayed: 0, nearMisses: 0, ignored: {}, events: 0 };
}

export async function replayLines(
  lines: AsyncIterable<Buffer>,
  opts: ReplayOptions,
  counts: ReplayCounts = emptyCounts(),
): Promise<ReplayResult> {
  const marks = new Map<string, number>();
  for await (const bytes of lines) {
    if (bytes.length === 0) continue;
    counts.lines++;
    if (!opts.pipeline.library.prefilter(bytes)) {
      counts.skipped++;
      continue;
    }
    const at = deviceTimeMs(parseSyslog(bytes).timestamp, opts.now);
    if (at === undefined) {
      counts.noTime++;
      continue;
    }
    if (at < opts.since) {
      counts.tooOld++;
      continue;
    }
    const raw: RawMessage = {
      bytes,
      transport: 'udp',
      sourceIp: 'archive',
      sourcePort: 0,
      receivedAt: at,
      truncated: false,
      ...(opts.firewall !== undefined ? { firewall: opts.firewall } : {}),
    };
    const outcome = opts.pipeline.process(raw);
    if (outcome.type === 'near-miss') counts.nearMisses++;
    else if (outcome.type === 'ignored') counts.ignored[outcome.reason] = (counts.ignored[outcome.reason] ?? 0) + 1;
    if (outcome.type !== 'event') continue;
    const fw = outcome.event.firewall;
    if (at <= (opts.marks.get(fw) ?? -Infinity)) {
      counts.alreadyReplayed++;
      continue;
    }
    await opts.sink.apply(outcome.event);
    counts.events++;
    if (at > (marks.get(fw) ?? -Infinity)) marks.set(fw, at);
  }
  return { counts, marks };
}
