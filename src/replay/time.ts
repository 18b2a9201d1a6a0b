// Time rules of `replay`: an archived line is placed at its device time (the bridge never received
// it, so there is no receive time), read from the syslog header. Pure; "now" is passed in.
//
// - RFC 5424 and ISO 8601 stamps carry year and zone: taken as written.
// - BSD stamps (`Mar  3 14:02:11`) carry neither: read in the bridge host's time zone (TZ), in the
//   most recent year that does not put the line more than a day in the future (so a December line
//   replayed in January is last year's).
// - `Mmm dd yyyy hh:mm:ss[.mmm]` (Junos `explicit-priority`/`time-format year`) has its year.
// - A bare `hh:mm:ss` (from `show log`) has no date: such a line cannot be placed and is not replayed.

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAY_MS = 86_400_000;

const BSD = /^([A-Za-z]{3}) +(\d{1,2}) +(?:(\d{4}) +)?(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/** Epoch ms of a syslog header timestamp, or undefined when it names no date. */
export function deviceTimeMs(timestamp: string | undefined, now: number): number | undefined {
  if (timestamp === undefined) return undefined;
  const t = timestamp.trim();
  if (ISO.test(t)) {
    const ms = Date.parse(t);
    return Number.isFinite(ms) ? ms : undefined;
  }
  const m = BSD.exec(t);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[1]!.toLowerCase());
  const day = Number(m[2]);
  if (month < 0 || day < 1 || day > 31) return undefined;
  const ms = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
  const at = (year: number) => new Date(year, month, day, Number(m[4]), Number(m[5]), Number(m[6]), ms);
  const valid = (d: Date) => d.getMonth() === month && d.getDate() === day; // Feb 30 rolls over: refuse it
  if (m[3]) {
    const d = at(Number(m[3]));
    return valid(d) ? d.getTime() : undefined;
  }
  const thisYear = new Date(now).getFullYear();
  for (const year of [thisYear + 1, thisYear, thisYear - 1, thisYear - 2, thisYear - 3, thisYear - 4]) {
    const d = at(year);
    if (valid(d) && d.getTime() <= now + DAY_MS) return d.getTime();
  }
  return undefined;
}

/**
 * `--since`: an ISO date/time, or a duration back from now (`90m`, `36h`, `7d`, `3600s`).
 * Returns epoch ms, or an error message.
 */
export function parseSince(text: string, now: number): number | string {
  const d = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (d) return now - Number(d[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS }[d[2] as 's' | 'm' | 'h' | 'd'];
  const ms = Date.parse(text);
  return Number.isFinite(ms) && /^\d{4}-\d{2}-\d{2}/.test(text.trim())
    ? ms
    : `--since: ${JSON.stringify(text)} is neither an ISO date/time (2026-03-03T08:00:00Z) nor a duration (36h, 7d)`;
}
