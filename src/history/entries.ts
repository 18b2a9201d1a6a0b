// What the per-IP history holds: one entry per syslog line that produced an event for the IP,
// per session decision on it, and per push attempt outcome, each carrying the correlation id that
// ties a line to its decision and its pushes. Pure shapes and their compact JSON form.
import type { VpnEvent } from '../types.js';

export type HistoryEntry =
  | {
      readonly type: 'line';
      readonly at: number;
      readonly correlationId: string;
      readonly kind: VpnEvent['kind'];
      readonly user: string;
      readonly firewall: string;
      readonly patternId: string;
      /** Where the line came from and its text (cut at HISTORY_TEXT_CHARS), when the event carried them. */
      readonly transport?: string;
      readonly sourceIp?: string;
      readonly text?: string;
    }
  | {
      readonly type: 'decision';
      readonly at: number;
      readonly correlationId: string;
      readonly decision: string;
      readonly user?: string;
      readonly seq: number;
      /** Identity events the decision emitted (connect, rekey, disconnect). */
      readonly emitted: readonly string[];
    }
  | {
      readonly type: 'push';
      readonly at: number;
      readonly correlationId: string;
      readonly jobId: string;
      readonly kind: string;
      readonly seq: number;
      readonly attempt: number;
      /** delivered | superseded | retry | permanent | error */
      readonly outcome: string;
      readonly detail?: string;
    };

/** Lines are cut here: the history explains, it is not a log archive (and it bounds memory). */
export const HISTORY_TEXT_CHARS = 240;
/** A push outcome's detail (an HTTP status and server, or the refusal reason), cut at this. */
export const HISTORY_DETAIL_CHARS = 300;

/** A history entry as stored and returned, with its id (`<ms recorded>-<counter>`: ordered, unique per bridge). */
export type StoredHistoryEntry = HistoryEntry & { readonly id: string };

/** A stored entry back from its JSON; undefined for anything else. */
export function parseEntry(json: string): StoredHistoryEntry | undefined {
  try {
    const v = JSON.parse(json) as StoredHistoryEntry;
    return v && typeof v === 'object' && typeof v.type === 'string' && typeof v.id === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
