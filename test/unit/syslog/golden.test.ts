// Every sample in test/fixtures/srx-vpn.log has a reviewed expected parse in
// test/fixtures/golden/syslog/<id>.json. A parser change shows up here as a field-level diff;
// if the change is intended, regenerate (command in the failure message) and review the diff.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSamples } from '../../fixtures/samples.js';
import { REGEN_COMMAND, SYSLOG_GOLDEN_DIR, goldenFileName, serializeGolden, syslogGolden } from '../../tools/syslog-golden.js';

const samples = loadSamples();

describe('syslog golden files', () => {
  it.each(samples.map((s) => [s.id, s] as const))('%s parses as its golden file says', (_id, sample) => {
    const file = join(SYSLOG_GOLDEN_DIR, goldenFileName(sample));
    expect(existsSync(file), `missing ${file}; run: ${REGEN_COMMAND}`).toBe(true);
    const expected: unknown = JSON.parse(readFileSync(file, 'utf8'));
    // Round-trip through JSON so both sides are plain data compared field by field.
    const actual: unknown = JSON.parse(serializeGolden(syslogGolden(sample)));
    expect(actual, `parser output changed for ${sample.id}; if intended run: ${REGEN_COMMAND} and review the diff`).toEqual(
      expected,
    );
  });

  it('has no golden file without a sample', () => {
    const wanted = new Set(samples.map((s) => goldenFileName(s)));
    const orphans = readdirSync(SYSLOG_GOLDEN_DIR).filter((f) => f.endsWith('.json') && !wanted.has(f));
    expect(orphans).toEqual([]);
  });

  it('keeps the tricky envelopes: SPU prefix (C7), SD-only brief (C16), unescaped backslash in SD (C17)', () => {
    const parsed = (id: string): Record<string, unknown> => {
      const doc = JSON.parse(
        readFileSync(join(SYSLOG_GOLDEN_DIR, goldenFileName(samples.find((s) => s.id === id)!)), 'utf8'),
      ) as {
        parsed: Record<string, unknown>;
      };
      return doc.parsed;
    };
    expect(parsed('C7')).toMatchObject({
      hostname: 'srx5800-dc1',
      appName: 'kmd',
      procId: '2150',
      msgId: 'KMD_VPN_UP_ALARM_USER',
    });
    expect(parsed('C16')).toMatchObject({ text: '', structuredData: [{ params: { 'aaa-username': 'EXAMPLE\\carol' } }] });
    expect(parsed('C17')).toMatchObject({ structuredData: [{ params: { 'aaa-username': 'EXAMPLE\\carol' } }] });
  });
});
