// Rewrites test/fixtures/golden/syslog/<id>.json from the current parser, one file per sample in
// loadSamples(), and removes files of samples that no longer exist. Review the diff by eye.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSamples } from '../fixtures/samples.js';
import { SYSLOG_GOLDEN_DIR, goldenFileName, serializeGolden, syslogGolden } from './syslog-golden.js';

mkdirSync(SYSLOG_GOLDEN_DIR, { recursive: true });
const wanted = new Set<string>();
for (const sample of loadSamples()) {
  const name = goldenFileName(sample);
  wanted.add(name);
  writeFileSync(join(SYSLOG_GOLDEN_DIR, name), serializeGolden(syslogGolden(sample)));
}
for (const name of readdirSync(SYSLOG_GOLDEN_DIR)) {
  if (name.endsWith('.json') && !wanted.has(name)) {
    rmSync(join(SYSLOG_GOLDEN_DIR, name));
    console.log(`removed ${name}`);
  }
}
console.log(`wrote ${wanted.size} golden files to ${SYSLOG_GOLDEN_DIR}`);
