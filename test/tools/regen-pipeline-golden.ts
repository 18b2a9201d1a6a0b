// Regenerates test/fixtures/golden/pipeline/<id>-<origin>-<format>-<app>-<tag>.json (named as the
// syslog goldens: what line each holds) from the samples, the shipped patterns and
// the fixed identity config. Review the diff by eye: the goldens must be RIGHT, not just stable.
//   node --import tsx test/tools/regen-pipeline-golden.ts
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadSamples } from '../fixtures/samples.js';
import { GOLDEN_DIR, goldenPipelines, goldenRecord } from '../helpers/pipeline-golden.js';
import { goldenFileName } from './syslog-golden.js';

const pipelines = await goldenPipelines();
mkdirSync(GOLDEN_DIR, { recursive: true });
for (const f of readdirSync(GOLDEN_DIR)) if (f.endsWith('.json')) rmSync(path.join(GOLDEN_DIR, f));
for (const s of loadSamples()) {
  const rec = goldenRecord(s, pipelines);
  writeFileSync(path.join(GOLDEN_DIR, goldenFileName(s)), JSON.stringify(rec, null, 2) + '\n');
  type O = { type: string; reason?: string; event?: { kind: string; user: string; domain: string; ips: string[] } };
  const show = (o: O) =>
    `${o.type} ${o.event ? `${o.event.kind} ${o.event.user} @${o.event.domain} ${o.event.ips.join(',')}` : (o.reason ?? '')}`;
  const r = rec as { outcome: O; outcomeWithIkeIdFallback?: O };
  console.log(
    s.id.padEnd(12),
    show(r.outcome),
    r.outcomeWithIkeIdFallback ? `| ikeIdFallback: ${show(r.outcomeWithIkeIdFallback)}` : '',
  );
}
process.exit(0);
