// The shipped Grafana dashboard and Prometheus alert rules: promtool accepts the rules and their
// unit tests pass, and every query names only metrics the bridge exports (a renamed metric must
// not leave a silent alert or an empty panel behind).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../../src/ops/metrics.js';

const RULES = 'deploy/prometheus/ptim-bridge-rules.yaml';
const RULE_TESTS = 'deploy/prometheus/ptim-bridge-rules.test.yaml';
const DASHBOARD = 'deploy/grafana/ptim-bridge-dashboard.json';

/** Prometheus's own series that a rule may use besides the bridge's. */
const PROMETHEUS_SERIES = new Set(['up']);

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'and',
  'or',
  'unless',
  'bool',
  'inf',
  'nan',
]);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or strings. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\$\w+/g, '') // Grafana variables
    .replace(/\b\d[\w.]*/g, ''); // numbers and durations (offset 15m)
  const names = new Set<string>();
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const id = m[0];
    const next = bare.slice(m.index + id.length).trimStart();
    if (next.startsWith('(') || KEYWORDS.has(id.toLowerCase())) continue;
    if (/^\d/.test(id)) continue;
    names.add(id);
  }
  return [...names];
}

async function exported(): Promise<Set<string>> {
  const out = new Set<string>(PROMETHEUS_SERIES);
  for (const m of await createMetrics(undefined, { processMetrics: true }).registry.getMetricsAsJSON()) {
    out.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(`${m.name}${s}`);
  }
  return out;
}

function ruleExprs(): { name: string; expr: string }[] {
  const doc = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ name: r.alert ?? r.record ?? '?', expr: r.expr })));
}

function dashboardExprs(): { name: string; expr: string }[] {
  type Panel = { title?: string; targets?: { expr?: string }[]; panels?: Panel[] };
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: Panel[];
    templating: { list: { name: string; definition?: string }[] };
  };
  const walk = (ps: Panel[]): { name: string; expr: string }[] =>
    ps.flatMap((p) => [
      ...(p.targets ?? []).filter((t) => t.expr).map((t) => ({ name: p.title ?? '?', expr: t.expr! })),
      ...walk(p.panels ?? []),
    ]);
  const vars = d.templating.list
    .filter((v) => v.definition)
    .map((v) => ({ name: `$${v.name}`, expr: v.definition!.replace(/^label_values\((.*),\s*\w+\)$/, '$1') }));
  return [...walk(d.panels), ...vars];
}

function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { encoding: 'utf8', cwd: process.cwd() });
  } catch (e) {
    const err = e as { code?: string; stdout?: string; stderr?: string };
    if (err.code === 'ENOENT') throw new Error('promtool not found: install the Debian package "prometheus" (.ci/run does)');
    throw new Error(`promtool ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

describe('deploy/: alert rules and dashboard', () => {
  it('parses metric names out of PromQL', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, server) (rate(ptim_push_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval]))) > 2 * sum(rate(x_total[6h] offset 15m)) and up{job="a"} == 0',
      ).sort(),
    ).toEqual(['ptim_push_duration_seconds_bucket', 'up', 'x_total']);
  });

  it('promtool accepts the rules, and their unit tests pass', () => {
    expect(promtool('check', 'rules', RULES)).toMatch(/SUCCESS: \d+ rules found/);
    expect(promtool('test', 'rules', RULE_TESTS)).toContain('SUCCESS');
  });

  it('rules and dashboard query only metrics the bridge exports', async () => {
    const known = await exported();
    const all = [...ruleExprs(), ...dashboardExprs()];
    expect(all.length).toBeGreaterThan(30);
    const unknown = all.flatMap(({ name, expr }) =>
      metricNames(expr)
        .filter((n) => !known.has(n))
        .map((n) => `${name}: ${n}`),
    );
    expect(unknown).toEqual([]);
    for (const { name, expr } of all) expect(metricNames(expr), name).not.toEqual([]);
  });

  it('alerts on what matters: losses, near misses, queued age, failed events, failover, not ready', () => {
    const alerts = ruleExprs().map((r) => r.name);
    for (const a of [
      'PtimBridgeSyslogLinesLost',
      'PtimBridgeBufferDroppedEvents',
      'PtimBridgeNearMissesRising',
      'PtimBridgeQueuedEventOld',
      'PtimBridgeFailedEvents',
      'PtimBridgeJimsFailover',
      'PtimBridgeNotReady',
    ])
      expect(alerts).toContain(a);
  });
});
