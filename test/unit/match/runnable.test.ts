// The library the matcher thread runs is compiled there from a plain copy of the one the main
// thread loaded (librarySpec → structured clone → libraryFromSpec). It must match every vendored
// sample exactly as the loaded library does, fields included.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadLibrary, type Library } from '../../../src/match/library.js';
import { libraryFromSpec, librarySpec } from '../../../src/match/runnable.js';
import { loadSamples } from '../../fixtures/samples.js';
import { GOLDEN_IDENTITY, GOLDEN_IDENTITY_IKE_FALLBACK, PATTERNS_DIR, rawOf } from '../../helpers/pipeline-golden.js';
import { createPipeline } from '../../../src/pipeline.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { silentLogger } from '../../../src/log.js';
import type { IdentityConfig } from '../../../src/config/schema.js';

let loaded: Library;
let threaded: Library;

beforeAll(async () => {
  loaded = await loadLibrary([PATTERNS_DIR]);
  // What postMessage does to the spec on its way to the matcher thread.
  threaded = libraryFromSpec(structuredClone(librarySpec(loaded)));
});

const run = (library: Library, identity: IdentityConfig, bytes: Buffer) =>
  JSON.stringify(
    createPipeline({ library, identity, metrics: createMetrics(), logger: silentLogger, clock: { now: () => 0 } }).process(
      rawOf(bytes),
    ),
  );

describe('the library as the matcher thread compiles it', () => {
  it('has the same patterns, regexes, literals and sub-patterns', () => {
    expect(threaded.patterns.map((p) => [p.id, p.enabled, p.regex?.source, p.regex?.flags, p.needles])).toEqual(
      loaded.patterns.map((p) => [p.id, p.enabled, p.regex?.source, p.regex?.flags, p.needles]),
    );
    expect(threaded.literals).toEqual(loaded.literals);
    expect(Object.keys(threaded.subpatterns)).toEqual(Object.keys(loaded.subpatterns));
    expect(threaded.pendingProofs).toEqual(loaded.pendingProofs);
  });

  it('gives every sample the same outcome, fields included, with both identity settings', () => {
    const samples = loadSamples();
    expect(samples.length).toBeGreaterThan(30);
    for (const identity of [GOLDEN_IDENTITY, GOLDEN_IDENTITY_IKE_FALLBACK])
      for (const s of samples) expect(run(threaded, identity, s.bytes), s.id).toBe(run(loaded, identity, s.bytes));
  });

  it('refuses a spec whose regex does not compile (it was not checked by the loader)', () => {
    const spec = librarySpec(loaded);
    const broken = { ...spec, patterns: spec.patterns.map((p, i) => (i === 0 ? { ...p, regexSource: '(' } : p)) };
    expect(() => libraryFromSpec(broken)).toThrow();
  });
});
