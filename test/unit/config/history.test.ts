// What the per-IP history records: the console's IP timeline is written when the console can be
// opened (users or tokens), or when the operator sets maxEntriesPerIp.
import { describe, expect, it } from 'vitest';
import { configSchema, HISTORY_ENTRIES_PER_IP, historySettings } from '../../../src/config/schema.js';

const consoleOf = (console: Record<string, unknown>) => configSchema.parse({ ops: { console } }).ops.console;
const token = { name: 'ci', role: 'viewer', tokenHash: `sha256$${'a'.repeat(64)}` };

describe('historySettings', () => {
  it('records nothing when the console has no credentials and no one set maxEntriesPerIp', () => {
    expect(historySettings(consoleOf({}))).toEqual({ maxEntriesPerIp: 0, ttlSecs: 86400 });
  });

  it('keeps HISTORY_ENTRIES_PER_IP per IP once the console has a token', () => {
    expect(HISTORY_ENTRIES_PER_IP).toBe(12);
    expect(historySettings(consoleOf({ tokens: [token] })).maxEntriesPerIp).toBe(HISTORY_ENTRIES_PER_IP);
  });

  it('takes maxEntriesPerIp as set, console or not, 0 included', () => {
    expect(historySettings(consoleOf({ history: { maxEntriesPerIp: 6, ttlSecs: 60 } }))).toEqual({
      maxEntriesPerIp: 6,
      ttlSecs: 60,
    });
    expect(historySettings(consoleOf({ tokens: [token], history: { maxEntriesPerIp: 0 } })).maxEntriesPerIp).toBe(0);
  });
});
