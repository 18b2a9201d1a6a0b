// Keeps the README true as the code changes: every setting, metric and error code that the
// code defines must be documented there (and the quick-start test command must be the CI one).
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema } from '../../../src/config/schema.js';
import { ERROR_CODES } from '../../../src/errors.js';
import { EVENTS } from '../../../src/events.js';
import { createMetrics } from '../../../src/ops/metrics.js';

const readme = readFileSync('README.md', 'utf8');

function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  for (;;) {
    if (cur instanceof z.ZodDefault || cur instanceof z.ZodOptional || cur instanceof z.ZodNullable)
      cur = cur.unwrap() as z.ZodType;
    else return cur;
  }
}

/** Dotted paths of every leaf setting, e.g. `ingest.udp.receiveBufferBytes`. */
function settingPaths(schema: z.ZodType, prefix = ''): string[] {
  const s = unwrap(schema);
  if (!(s instanceof z.ZodObject)) return [prefix];
  return Object.entries(s.shape as Record<string, z.ZodType>).flatMap(([k, v]) => settingPaths(v, prefix ? `${prefix}.${k}` : k));
}

describe('README', () => {
  it('documents every setting by its full dotted name', () => {
    const missing = settingPaths(configSchema).filter((p) => !readme.includes(`\`${p}\``));
    expect(missing).toEqual([]);
  });

  it('documents every metric', async () => {
    const names = (await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((n) => !readme.includes(`\`${n}\``))).toEqual([]);
  });

  it('documents every operational event with the counter it adds to', async () => {
    const metrics = createMetrics();
    const rows = readme.split('\n');
    const undocumented: string[] = [];
    for (const [name, d] of Object.entries(EVENTS)) {
      const counter = (await metrics[d.counter].get()).name;
      const row = rows.find((l) => l.startsWith(`| \`${name}\` |`));
      if (!row?.includes(`\`${counter}\``)) undocumented.push(name);
    }
    expect(undocumented).toEqual([]);
  });

  it('lists every folder and top-level file of src/ in its layout', () => {
    const layout = /## Development\n+```\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const entries = readdirSync('src', { withFileTypes: true }).map((d) => (d.isDirectory() ? `${d.name}/` : d.name));
    expect(entries.filter((e) => !new RegExp(`(^|[\\s,])${e.replace('.', '\\.')}(?=[\\s,])`, 'm').test(layout))).toEqual([]);
  });

  it('documents every error code', () => {
    expect(Object.keys(ERROR_CODES).filter((c) => !readme.includes(`\`${c}\``))).toEqual([]);
  });

  it('gives the same test command that CI runs', () => {
    const ci = readFileSync('.ci/run', 'utf8');
    expect(readme).toContain('npm ci && npm test');
    expect(ci).toMatch(/^npm ci\b/m);
    expect(ci).toMatch(/^npm test$/m);
  });
});
