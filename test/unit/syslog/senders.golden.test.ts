// What real senders put on the wire (captured once from the tools, test/fixtures/senders/) is
// framed and parsed as the golden files say: every case finds the SRX tag and process, whether
// the relay kept it in a BSD header, moved it into an RFC 5424 MSG with a nil MSGID, or wrapped
// the whole line behind its own header. Re-capture or re-parse: test/tools/sender-fixtures.ts.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CAPTURED_SAMPLES, SENDER_FIXTURE_DIR, parseCapture, type SenderFixture } from '../../tools/sender-fixtures.js';

const fixtures = readdirSync(SENDER_FIXTURE_DIR)
  .filter((n) => n.endsWith('.json'))
  .map((n) => JSON.parse(readFileSync(join(SENDER_FIXTURE_DIR, n), 'utf8')) as SenderFixture);

describe('real sender output (golden)', () => {
  it('has a capture of every sender family', () => {
    const ids = fixtures.map((f) => f.id);
    for (const prefix of [
      'logger-rfc3164',
      'logger-rfc5424',
      'rsyslog-omfwd',
      'syslog-ng-network',
      'syslog-ng-syslog',
      'python-sysloghandler',
    ])
      expect(
        ids.some((id) => id.startsWith(prefix)),
        prefix,
      ).toBe(true);
  });

  it.each(fixtures.map((f) => [f.id, f] as const))('%s frames and parses as its golden file says', (_id, f) => {
    expect(parseCapture(f), 'if intended: node --import tsx test/tools/sender-fixtures.ts --reparse').toEqual(f.parsed);
  });

  it.each(fixtures.map((f) => [f.id, f] as const))(
    '%s: every sample arrives as one message with its tag and process',
    (_id, f) => {
      expect(f.parsed).toHaveLength(CAPTURED_SAMPLES.length);
      expect(f.parsed.map((p) => [p.appName, p.msgId])).toEqual([
        ['iked', 'IKE_VPN_UP_ALARM_USER'],
        ['kmd', 'KMD_VPN_UP_ALARM_USER'],
        ['kmd', 'KMD_VPN_UP_ALARM_USER'],
        ['kmd', 'KMD_VPN_DOWN_ALARM_USER'],
      ]);
      // Relays keep the firewall's hostname; logger and Python write their own (or none).
      if (/^(rsyslog|syslog-ng)/.test(f.id))
        expect(f.parsed.map((p) => p.hostname)).toEqual(['srx1600-edge', 'srx345-hq', 'srx5800-dc1', 'srx345-hq']);
      for (const p of f.parsed) expect(String(p.text)).toMatch(/^VPN \S+ from \S+ is (up|down)\. Local-ip: /);
    },
  );
});
