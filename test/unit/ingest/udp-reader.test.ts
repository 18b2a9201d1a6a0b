import { describe, expect, it } from 'vitest';
import { PtimError } from '../../../src/errors.js';
import { chooseReader } from '../../../src/ingest/udp.js';
import { loadBatchReads, type BatchBinding } from '../../../src/ingest/udp-batch.js';
import { createLogger } from '../../../src/log.js';

function recording() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { lines, logger };
}

const missing = () => ({ reason: 'build/native/udp_recvmmsg.node cannot be loaded (ENOENT)' });
const fake = { open: () => ({}), metaWords: 32 } as unknown as BatchBinding;

describe('ingest.udp.reader', () => {
  it('auto takes recvmmsg when the addon loads, without a word', () => {
    const { lines, logger } = recording();
    expect(chooseReader('auto', logger, () => ({ binding: fake }))).toEqual({ reader: 'recvmmsg', binding: fake });
    expect(lines).toEqual([]);
  });

  it('auto falls back to dgram when the addon cannot load, and warns once with the reason', () => {
    const { lines, logger } = recording();
    expect(chooseReader('auto', logger, missing)).toEqual({ reader: 'dgram', fallback: missing().reason });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, setting: 'ingest.udp.reader', reason: missing().reason });
  });

  it('recvmmsg refuses to start without the addon: PTIM_ERR_UDP_READER with the reason', () => {
    const { logger } = recording();
    const err = (() => {
      try {
        chooseReader('recvmmsg', logger, missing);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PtimError);
    expect((err as PtimError).code).toBe('PTIM_ERR_UDP_READER');
    expect((err as PtimError).message).toContain('ENOENT');
  });

  it('dgram never loads the addon', () => {
    const { logger } = recording();
    expect(chooseReader('dgram', logger, () => expect.unreachable('loaded'))).toEqual({ reader: 'dgram' });
  });

  it('the addon built at install loads on this Linux machine', () => {
    expect(loadBatchReads()).toMatchObject({ binding: { metaWords: 32 } });
  });
});
