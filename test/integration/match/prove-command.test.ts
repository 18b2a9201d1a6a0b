// `ptim-bridge patterns prove` as an operator runs it, with the real checker on tiny regexes:
// it proves what has no verdict, stores it (cache file, the library's verdict file, Redis with
// --share), and a second run proves nothing. A refusal, stored or fresh, exits 1.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { runPatternsProve } from '../../../src/cli/patterns.js';
import { verdictHashKey } from '../../../src/match/verdict-redis.js';
import { parseVerdictFile } from '../../../src/match/verdicts.js';
import { startRedis } from '../../helpers/redis.js';
import { redisSchema } from '../../../src/config/schema.js';
import { textSink } from '../../helpers/sink.js';

const UNSAFE = fileURLToPath(new URL('../../fixtures/patterns-bad/regex-unsafe/10-a.yaml', import.meta.url));
const SAFE = `patterns:
  - id: t-safe
    description: test
    kind: up
    tags: [KMD_VPN_UP_ALARM_USER]
    match: [KMD_VPN_UP_ALARM_USER]
    regex: '^user=(?<user>[a-z]+)$'
    examples:
      - line: '<30>Mar  3 14:02:11 fw kmd[1]: KMD_VPN_UP_ALARM_USER: user=alice'
        fields: { user: alice }
`;

describe('patterns prove', { timeout: 120_000 }, () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('proves a new regex once, writes the verdict file, shares it in Redis, and proves nothing the second time', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ptim-prove-'));
    writeFileSync(path.join(dir, '10-a.yaml'), SAFE);
    const redis = await startRedis();
    try {
      const opts = {
        verdictCacheFile: path.join(dir, 'cache.json'),
        write: path.join(dir, 'verdicts.json'),
        share: redisSchema.parse({ url: redis.url, keyPrefix: redis.keyPrefix }),
      };
      const first = textSink();
      expect(await runPatternsProve([dir], first.stream, opts)).toBe(0);
      expect(first.text()).toMatch(/1 to prove[\s\S]*safe {6}t-safe[\s\S]*PASS/);
      const written = parseVerdictFile(readFileSync(opts.write, 'utf8'))!;
      expect([...written.values()]).toEqual([{ status: 'safe', pattern: 't-safe' }]);
      const r = new Redis(redis.url);
      expect(await r.hlen(verdictHashKey(redis.keyPrefix))).toBe(1);
      r.disconnect();

      const second = textSink();
      expect(await runPatternsProve([dir], second.stream, { verdictCacheFile: opts.verdictCacheFile })).toBe(0);
      expect(second.text()).toContain('0 to prove');
    } finally {
      await redis.stop();
    }
  });

  it('exits 1 on a refused regex, fresh or stored', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ptim-prove-'));
    cpSync(UNSAFE, path.join(dir, '10-a.yaml'));
    const cacheFile = path.join(dir, 'cache.json');
    const first = textSink();
    expect(await runPatternsProve([dir], first.stream, { verdictCacheFile: cacheFile })).toBe(1);
    expect(first.text()).toMatch(/REFUSED {3}t-up .*polynomial/);
    const second = textSink();
    expect(await runPatternsProve([dir], second.stream, { verdictCacheFile: cacheFile })).toBe(1);
    expect(second.text()).toMatch(/0 to prove[\s\S]*REFUSED {3}t-up .*stored verdict/);
  });
});
