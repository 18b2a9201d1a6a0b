// A push worker's job line, as queue/attempt.ts `jobLine` builds one per identity event: the
// fields the benches that measure the audit line (bench:log, bench:spread) build it from.
export const JOB_LINE = {
  correlationId: 'k3x9a1b2-1f3e',
  jobId: '2001_db8__1_c350-1',
  ip: '2001:db8::1:c350',
  user: 'user50000',
  domain: 'example.com',
  seq: 1,
  kind: 'connect',
  firewall: 'srx-a',
  attempt: 1,
} as const;
