// Terminal rendering of the admin queries (pure: same input, same text). The CLI prints these.
import type { FailedJobRow, QueueStats, RetryResult } from './admin.js';

/** Each column's width: its header's or its longest cell's (a loop: a spread of 100k rows overflows the stack). */
export function columnWidths(headers: readonly string[], rows: Iterable<readonly string[]>, widths?: number[]): number[] {
  const w = widths ?? headers.map((h) => h.length);
  for (const r of rows)
    for (let i = 0; i < w.length; i++) {
      const len = (r[i] ?? '').length;
      if (len > w[i]!) w[i] = len;
    }
  return w;
}

const tableLine = (cells: readonly string[], widths: readonly number[]) =>
  cells
    .map((c, i) => c.padEnd(widths[i] ?? 0))
    .join('  ')
    .trimEnd();

/** Left-aligned columns separated by two spaces; no trailing blanks. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = columnWidths(headers, rows);
  return [
    tableLine(headers, widths),
    tableLine(
      widths.map((w) => '-'.repeat(w)),
      widths,
    ),
    ...rows.map((r) => tableLine(r, widths)),
  ].join('\n');
}

/**
 * A table rendered as rows arrive, in constant memory: column widths come from the header and the
 * first `sampleRows` rows (held until then), and only grow after that, so a later, wider cell
 * shifts the columns of the rows after it rather than forcing every row into memory.
 */
export class TableStream {
  private held: (readonly string[])[] = [];
  private widths: number[] | undefined;

  constructor(
    private readonly headers: readonly string[],
    private readonly sampleRows = 1000,
  ) {}

  /** Text to print for this row now ('' while the first rows are held to size the columns). */
  push(row: readonly string[]): string {
    if (this.widths) return `${tableLine(row, columnWidths(this.headers, [row], this.widths))}\n`;
    this.held.push(row);
    return this.held.length >= this.sampleRows ? this.flush() : '';
  }

  /** Text still held (the whole table when it had fewer rows than `sampleRows`). */
  end(): string {
    return this.widths ? '' : this.flush();
  }

  private flush(): string {
    const rows = this.held;
    this.held = [];
    this.widths = columnWidths(this.headers, rows);
    return `${table(this.headers, rows)}\n`;
  }
}

/** Control characters (from syslog-derived usernames or error texts) must not drive the terminal. */
export function clean(s: string, max = 80): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

const iso = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) ? '-' : new Date(ms).toISOString());

export function formatFailedJobs(rows: readonly FailedJobRow[]): string {
  if (rows.length === 0) return 'No failed jobs.';
  return table(
    ['JOB ID', 'IP', 'USER', 'KIND', 'SEQ', 'ATTEMPTS', 'CREATED', 'REASON'],
    rows.map((r) => [
      clean(r.jobId, 60),
      clean(r.ip, 45),
      clean(r.user, 40),
      r.kind ?? '',
      String(r.seq ?? ''),
      String(r.attemptsMade),
      iso(r.timestamp),
      clean(r.failedReason),
    ]),
  );
}

export function formatQueueStats(s: QueueStats): string {
  const rows: [string, number][] = [
    ['outbox', s.outbox],
    ['waiting', s.waiting],
    ['delayed', s.delayed],
    ['active', s.active],
    ['paused', s.paused],
    ['failed', s.failed],
    ['completed', s.completed],
  ];
  return table(
    ['STATE', 'JOBS'],
    rows.map(([k, v]) => [k, String(v)]),
  );
}

export function formatRetryResult(r: RetryResult): string {
  if (r.total !== undefined) return `Retried all failed jobs (${r.total}).`;
  const lines = [`Retried ${r.retried.length} job(s).`];
  for (const s of r.skipped) lines.push(`  skipped ${clean(s.jobId, 60)}: ${s.reason}`);
  return lines.join('\n');
}

export function formatPurgeResult(ids: readonly string[]): string {
  return `Purged ${ids.length} failed job(s).`;
}
