// The verdict layer replicas share, on a real Redis: what one publishes the other finds, under
// the deployment's key prefix; a Redis that does not answer is "no verdict", never an error.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisVerdicts, verdictHashKey } from '../../../src/match/verdict-redis.js';
import { startRedis, type TestRedis } from '../../helpers/redis.js';

describe('shared verdicts in Redis', () => {
  let server: TestRedis;
  let a: Redis;
  let b: Redis;
  beforeAll(async () => {
    server = await startRedis();
    a = new Redis(server.url);
    b = new Redis(server.url);
  });
  afterAll(async () => {
    a.disconnect();
    b.disconnect();
    await server.stop();
  });

  it('a verdict published by one replica is found by another', async () => {
    const one = redisVerdicts(a, server.keyPrefix);
    const two = redisVerdicts(b, server.keyPrefix);
    expect(await two.get('k1')).toBeUndefined();
    await one.put('k1', { status: 'vulnerable', complexity: 'exponential', hotspot: '(a+)+' });
    expect(await two.get('k1')).toEqual({ status: 'vulnerable', complexity: 'exponential', hotspot: '(a+)+' });
    expect(await b.hlen(verdictHashKey(server.keyPrefix))).toBe(1);
    expect(verdictHashKey(server.keyPrefix)).toBe(`{${server.keyPrefix}}:regex-verdicts`);
  });

  it('a Redis that does not answer means no verdict (the regex is proven here)', async () => {
    const gone = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    const v = redisVerdicts(gone, server.keyPrefix);
    expect(await v.get('k1')).toBeUndefined();
    await expect(v.put('k2', { status: 'safe' })).resolves.toBeUndefined();
    gone.disconnect();
  });
});
