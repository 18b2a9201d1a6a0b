import { describe, expect, it } from 'vitest';
import {
  formatFailedJobs,
  formatPurgeResult,
  formatQueueStats,
  formatRetryResult,
  TableStream,
  table,
} from '../../../src/queue/format.js';
import { parseInfo } from '../../../src/redis/check.js';

describe('terminal formatting', () => {
  it('aligns columns and trims trailing blanks', () => {
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['xyz', '1'],
          ['q', ''],
        ],
      ),
    ).toBe(['A    LONGER', '---  ------', 'xyz  1', 'q'].join('\n'));
  });

  it('renders a table of 200,000 rows (a spread into Math.max overflowed the stack at ~125k)', () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => [String(i), 'x']);
    const t = table(['N', 'X'], rows);
    expect(t.split('\n')).toHaveLength(200_002);
    expect(t.split('\n')[1]).toBe('------  -');
  });

  it('streams a table: widths from the first rows, growing after them, same text as table() for short ones', () => {
    const short = new TableStream(['A', 'LONGER'], 3);
    expect(short.push(['xyz', '1']) + short.push(['q', '']) + short.end()).toBe(
      `${table(
        ['A', 'LONGER'],
        [
          ['xyz', '1'],
          ['q', ''],
        ],
      )}\n`,
    );
    const s = new TableStream(['A', 'B'], 2);
    expect(s.push(['a', 'b'])).toBe('');
    expect(s.push(['aa', 'b'])).toBe('A   B\n--  -\na   b\naa  b\n');
    expect(s.push(['aaaa', 'b'])).toBe('aaaa  b\n');
    expect(s.push(['a', 'b'])).toBe('a     b\n');
    expect(s.end()).toBe('');
  });

  it('renders failed jobs with ISO times and neutralises control characters from syslog-derived text', () => {
    const out = formatFailedJobs([
      {
        jobId: '192.0.2.5-2',
        ip: '192.0.2.5',
        user: 'eve\u001b[31m',
        kind: 'rekey',
        seq: 2,
        failedReason: 'permanent: HTTP 400\nunknown domain',
        attemptsMade: 1,
        timestamp: Date.UTC(2024, 0, 2, 3, 4, 5),
        finishedOn: undefined,
      },
    ]);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^JOB ID\s+IP\s+USER\s+KIND\s+SEQ\s+ATTEMPTS\s+CREATED\s+REASON$/);
    expect(lines[2]).toContain('2024-01-02T03:04:05.000Z');
    expect(lines[2]).toContain('permanent: HTTP 400 unknown domain');
    expect(out).not.toContain('\u001b');
    expect(lines).toHaveLength(3);
    expect(formatFailedJobs([])).toBe('No failed jobs.');
  });

  it('renders queue stats, retry and purge results', () => {
    const s = formatQueueStats({ waiting: 3, delayed: 1, active: 2, failed: 0, completed: 10, paused: 0, outbox: 4 });
    expect(s.split('\n')[2]).toBe('outbox     4');
    expect(s).toContain('completed  10');
    expect(formatRetryResult({ retried: ['a-1'], skipped: [{ jobId: 'b-2', reason: 'not found' }] })).toBe(
      'Retried 1 job(s).\n  skipped b-2: not found',
    );
    expect(formatRetryResult({ retried: [], skipped: [], total: 5 })).toBe('Retried all failed jobs (5).');
    expect(formatPurgeResult(['a', 'b'])).toBe('Purged 2 failed job(s).');
  });
});

describe('parseInfo', () => {
  it('reads field:value lines and skips section headers', () => {
    const m = parseInfo('# Server\r\nredis_version:7.2.4\r\n\r\n# Memory\r\nmaxmemory_policy:noeviction\r\n');
    expect(m.get('redis_version')).toBe('7.2.4');
    expect(m.get('maxmemory_policy')).toBe('noeviction');
    expect(m.has('# Server')).toBe(false);
  });
});
