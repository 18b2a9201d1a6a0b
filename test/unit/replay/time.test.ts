// Replay's time rules: device time from the header, BSD years inferred, --since parsed.
import { describe, expect, it } from 'vitest';
import { deviceTimeMs, parseSince } from '../../../src/replay/time.js';

// BSD stamps are read in the host time zone: expectations are built in local time too.
const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0) => new Date(y, mo, d, h, mi, s, ms).getTime();

describe('deviceTimeMs', () => {
  const now = local(2026, 2, 10, 12); // 10 March 2026, noon

  it('takes ISO and RFC 5424 stamps as written, zone included', () => {
    expect(deviceTimeMs('2026-03-03T14:02:11.123+01:00', now)).toBe(Date.UTC(2026, 2, 3, 13, 2, 11, 123));
    expect(deviceTimeMs('2026-03-03T14:02:11Z', now)).toBe(Date.UTC(2026, 2, 3, 14, 2, 11));
  });

  it('puts a BSD stamp in the most recent year that is not more than a day ahead', () => {
    expect(deviceTimeMs('Mar  3 14:02:11', now)).toBe(local(2026, 2, 3, 14, 2, 11));
    expect(deviceTimeMs('Mar 11 08:00:00', now)).toBe(local(2026, 2, 11, 8)); // clock skew: tomorrow is fine
    expect(deviceTimeMs('Mar 12 08:00:00', now)).toBe(local(2025, 2, 12, 8)); // two days ahead: last year
    expect(deviceTimeMs('Dec 31 23:59:59', now)).toBe(local(2025, 11, 31, 23, 59, 59));
    expect(deviceTimeMs('Jan  1 00:00:05', local(2025, 11, 31, 23, 59))).toBe(local(2026, 0, 1, 0, 0, 5));
    expect(deviceTimeMs('Feb 29 10:00:00', now)).toBe(local(2024, 1, 29, 10));
  });

  it('uses a year when the stamp has one, with milliseconds', () => {
    expect(deviceTimeMs('Mar  3 2024 14:02:11.250', now)).toBe(local(2024, 2, 3, 14, 2, 11, 250));
  });

  it('refuses stamps without a date or with an impossible one', () => {
    for (const t of [undefined, '', '14:02:11', 'Foo  3 14:02:11', 'Feb 30 10:00:00', 'Mar 3 2023 25:00:00'])
      expect(deviceTimeMs(t, now), String(t)).toBeUndefined();
  });
});

describe('parseSince', () => {
  const now = Date.UTC(2026, 2, 10, 12);
  it('takes a duration back from now or an ISO date', () => {
    expect(parseSince('36h', now)).toBe(now - 36 * 3600_000);
    expect(parseSince('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseSince('2026-03-01T00:00:00Z', now)).toBe(Date.UTC(2026, 2, 1));
  });
  it('explains what it accepts', () => {
    expect(parseSince('yesterday', now)).toMatch(/neither an ISO date\/time .* nor a duration/);
  });
});
