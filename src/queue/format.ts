// Terminal rendering of the admin queries (pure: same input, same text). The CLI prints these.
import type { FailedJobRow, QueueStats, RetryResult } from './admin.js';

/** Left-aligned columns separated by two spaces; no trailing blanks. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Control characters (from syslog-derived usernames or error texts) must not drive the terminal. */
function clean(s: string, max = 80): string {
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
