// The relay's pure part, alone: which jobs a read of the outbox becomes.
import { describe, expect, it } from 'vitest';
import { BATCH_JOB, type BatchJobData } from '../../../src/queue/jobs.js';
import { entriesToJobs } from '../../../src/queue/relay.js';

const entry = (id: string, ipKey: string, seq: number): [string, string[]] => [
  id,
  ['ipKey', ipKey, 'event', JSON.stringify({ kind: 'connect', ip: ipKey, user: 'u', seq, at: 1, receivedAt: 1 })],
];

describe('entriesToJobs', () => {
  const entries = [
    entry('1-0', 'a', 1),
    ['1-1', ['ipKey', 'a', 'event', '{']] as [string, string[]],
    entry('1-2', 'b', 1),
    entry('1-3', 'a', 2),
  ];

  it('one job per event, id <ipKey>-<seq>, without maxEventsPerJob', () => {
    const { jobs, invalid } = entriesToJobs(entries, { keepCompletedJobs: 0 });
    expect(jobs.map((j) => [j.name, j.opts?.jobId])).toEqual([
      ['connect', 'a-1'],
      ['connect', 'b-1'],
      ['connect', 'a-2'],
    ]);
    expect(invalid.map(([id]) => id)).toEqual(['1-1']);
  });

  it('batch jobs of up to maxEventsPerJob, in outbox order, named after their first entry', () => {
    const { jobs } = entriesToJobs(entries, { keepCompletedJobs: 0, maxEventsPerJob: 2 });
    expect(
      jobs.map((j) => [j.name, j.opts?.jobId, (j.data as BatchJobData).events.map((e) => `${e.ipKey}-${e.event.seq}`)]),
    ).toEqual([
      [BATCH_JOB, 'batch_1_0_2', ['a-1', 'b-1']],
      [BATCH_JOB, 'batch_1_3_1', ['a-2']],
    ]);
  });
});
