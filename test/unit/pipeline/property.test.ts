// Robustness of the production pipeline: nothing a sender can put in a datagram makes process()
// throw, and a cut line never yields an event with a wrong identity.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Pipeline } from '../../../src/pipeline.js';
import { loadSamples } from '../../fixtures/samples.js';
import { goldenPipelines, rawOf } from '../../helpers/pipeline-golden.js';

const samples = loadSamples();
const TYPES = ['skipped', 'near-miss', 'ignored', 'event'];

describe('pipeline robustness', () => {
  let p: Pipeline;
  beforeAll(async () => {
    p = (await goldenPipelines()).ikeFallback;
  });

  it('never throws on arbitrary bytes, with or without a VPN tag in them', () => {
    const tagged = fc
      .tuple(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom('KMD_VPN_UP_ALARM_USER: VPN ', 'IKE_VPN_DOWN_ALARM_USER: ', 'VPN_UP_ALARM_USER'),
        fc.uint8Array({ maxLength: 300 }),
      )
      .map(([a, t, b]) => Buffer.concat([Buffer.from(a), Buffer.from(t), Buffer.from(b)]));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
          tagged,
        ),
        (bytes) => {
          expect(TYPES).toContain(p.process(rawOf(bytes)).type);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('never throws on mutated samples', () => {
    const mutated = fc
      .tuple(
        fc.constantFrom(...samples.map((s) => s.bytes)),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), {
          minLength: 1,
          maxLength: 8,
        }),
      )
      .map(([b, edits]) => {
        let bytes = Buffer.from(b);
        for (const [at, v, op] of edits) {
          const i = bytes.length === 0 ? 0 : at % bytes.length;
          if (op === 'set' && bytes.length > 0) bytes[i] = v;
          else if (op === 'insert') bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([v]), bytes.subarray(i)]);
          else bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
        }
        return bytes;
      });
    fc.assert(
      fc.property(mutated, (bytes) => {
        expect(TYPES).toContain(p.process(rawOf(bytes)).type);
      }),
      { numRuns: 2000 },
    );
  });

  it('a line cut anywhere yields no event, or the same identity as the whole line', () => {
    let checked = 0;
    for (const s of samples) {
      const whole = p.process(rawOf(s.bytes));
      for (let n = 0; n < s.bytes.length; n++) {
        const cut = p.process(rawOf(s.bytes.subarray(0, n)));
        if (cut.type !== 'event') continue;
        checked++;
        expect(whole.type, `${s.id} cut at ${n}`).toBe('event');
        if (whole.type !== 'event') continue;
        const { kind, user, domain, ips, vpn, gateway } = whole.event;
        // Only a DOWN's free-text reason (the last field) can be shortened by a cut.
        expect(cut.event, `${s.id} cut at ${n}`).toMatchObject({ kind, user, domain, ips, vpn, gateway });
      }
    }
    expect(checked).toBeGreaterThan(0);
  });
});
