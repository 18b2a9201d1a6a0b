// Shared by the pipeline golden test and its generator: the shipped patterns, a fixed identity
// config and a fixed RawMessage envelope, so both compute outcomes the same way.
import { fileURLToPath } from 'node:url';
import { defaultConfig, type IdentityConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { loadLibrary, type Library } from '../../src/match/library.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { createPipeline, type Pipeline, type PipelineOutcome } from '../../src/pipeline.js';
import type { RawMessage } from '../../src/types.js';
import type { Sample } from '../fixtures/samples.js';

export const PATTERNS_DIR = fileURLToPath(new URL('../../patterns', import.meta.url));
export const GOLDEN_DIR = fileURLToPath(new URL('../fixtures/golden/pipeline', import.meta.url));

/** 2026-03-03T14:02:11Z: every sample is "received" at this instant. */
export const RECEIVED_AT = 1772546531000;

export const GOLDEN_IDENTITY: IdentityConfig = {
  ...defaultConfig().identity,
  defaultDomain: 'example.net',
  domainByVpn: { 'JSC-VPN': 'example.com' },
  domainByGateway: { 'ra-gateway-t1': 'ra.example.org' },
  usernameCase: 'preserve',
  domainCase: 'lower',
  ikeIdFallback: false,
};

/** The same, with the per-user Remote IKE-ID fallback on (shown only where it changes the outcome). */
export const GOLDEN_IDENTITY_IKE_FALLBACK: IdentityConfig = { ...GOLDEN_IDENTITY, ikeIdFallback: true };

export async function goldenPipelines(): Promise<{ plain: Pipeline; ikeFallback: Pipeline }> {
  const library = await loadLibrary([PATTERNS_DIR]);
  return { plain: build(library, GOLDEN_IDENTITY), ikeFallback: build(library, GOLDEN_IDENTITY_IKE_FALLBACK) };
}

function build(library: Library, identity: IdentityConfig): Pipeline {
  return createPipeline({
    library,
    identity,
    metrics: createMetrics(),
    logger: silentLogger,
    clock: { now: () => RECEIVED_AT },
  });
}

export function rawOf(bytes: Buffer): RawMessage {
  return { bytes, transport: 'udp', sourceIp: '192.0.2.250', sourcePort: 514, receivedAt: RECEIVED_AT, truncated: false };
}

function strip(outcome: PipelineOutcome): Record<string, unknown> {
  const o: Record<string, unknown> = { ...outcome };
  delete o.fields;
  return o;
}

/**
 * What a golden file holds: the sample, its outcome with GOLDEN_IDENTITY (captured fields left
 * out: noisy), and `outcomeWithIkeIdFallback` only when turning the fallback on changes it.
 */
export function goldenRecord(sample: Sample, p: { plain: Pipeline; ikeFallback: Pipeline }): object {
  const outcome = strip(p.plain.process(rawOf(sample.bytes)));
  const alt = strip(p.ikeFallback.process(rawOf(sample.bytes)));
  const differs = JSON.stringify(outcome) !== JSON.stringify(alt);
  return { id: sample.id, comment: sample.comment, outcome, ...(differs ? { outcomeWithIkeIdFallback: alt } : {}) };
}
