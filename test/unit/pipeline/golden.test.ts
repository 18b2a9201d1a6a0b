// Every vendored sample through the production pipeline with the shipped patterns, compared with
// its reviewed golden file (regenerate: node --import tsx test/tools/regen-pipeline-golden.ts).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Pipeline } from '../../../src/pipeline.js';
import { loadSamples } from '../../fixtures/samples.js';
import { GOLDEN_DIR, goldenPipelines, goldenRecord } from '../../helpers/pipeline-golden.js';
import { goldenFileName } from '../../tools/syslog-golden.js';

describe('pipeline golden', () => {
  let pipelines: { plain: Pipeline; ikeFallback: Pipeline };
  beforeAll(async () => {
    pipelines = await goldenPipelines();
  });

  const samples = loadSamples();
  it('has a golden file for every sample', () => {
    expect(samples.length).toBeGreaterThan(30);
    for (const s of samples) expect(existsSync(path.join(GOLDEN_DIR, goldenFileName(s))), s.id).toBe(true);
  });

  for (const s of samples) {
    it(`sample ${s.id}`, () => {
      const want: unknown = JSON.parse(readFileSync(path.join(GOLDEN_DIR, goldenFileName(s)), 'utf8'));
      expect(JSON.parse(JSON.stringify(goldenRecord(s, pipelines)))).toEqual(want);
    });
  }

  // The reviewed expectations, spelled out so a regenerated golden cannot silently go wrong.
  it('gives the reviewed outcomes for the key samples', () => {
    const by = new Map(samples.map((s) => [s.id, s]));
    const run = (id: string, p = pipelines.plain) => p.process({ ...rawFor(by.get(id)!.bytes) });
    const ev = (id: string, p = pipelines.plain) => {
      const o = run(id, p);
      if (o.type !== 'event') throw new Error(`${id}: ${JSON.stringify(o)}`);
      return o.event;
    };
    expect(ev('C1')).toMatchObject({ kind: 'up', user: 'alice', ips: ['10.10.50.11'], domain: 'example.com' });
    expect(ev('C3')).toMatchObject({ user: 'bob', domain: 'example.com' });
    expect(ev('C4')).toMatchObject({ kind: 'down', user: 'carol', domain: 'example' });
    expect(ev('C13', pipelines.ikeFallback).ips).toEqual(['10.1.11.19', '2001:db8:141::13']);
    for (const id of ['V1', 'V2', 'V5', 'V7', 'V8'])
      expect(run(id)).toMatchObject({ type: 'ignored', reason: 'placeholder_user' });
    expect(run('V7', pipelines.ikeFallback)).toMatchObject({ type: 'event', event: { user: 'user1', domain: 'psk.auth' } });
    expect(run('C20').type).toBe('near-miss');
    for (const id of ['C21', 'C21-2', 'C21-3', 'V19', 'V19-2']) expect(run(id).type).toBe('skipped');
  });
});

function rawFor(bytes: Buffer) {
  return { bytes, transport: 'udp' as const, sourceIp: '192.0.2.250', sourcePort: 514, receivedAt: 0, truncated: false };
}
