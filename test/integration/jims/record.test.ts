import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createJimsClient } from '../../../src/jims/client.js';
import { createJimsSimulator } from '../../../src/jims-sim/simulator.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { silentLogger } from '../../../src/log.js';
import { SECRET, event, fakeClock, jimsConfig } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ptim-record-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('simulator record mode', () => {
  it('answers anything, records every request as a JSON line with secrets masked', async () => {
    const file = join(dir, 'rec.jsonl');
    const sim = createJimsSimulator({ record: { file }, tokenPath: 'oauth_token/oauth' });
    const { port, url } = await sim.listen(0);
    try {
      for (const style of ['json', 'basic'] as const) {
        const c = createJimsClient(jimsConfig(port, { tokenRequestStyle: style, push: { path: 'some/ptim/path' } }), {
          metrics: createMetrics(),
          logger: silentLogger,
          clock: fakeClock(),
        });
        expect(await c.push(event({ ip: '198.51.100.7' }))).toMatchObject({ result: 'delivered' });
        await c.close();
      }
      // Whatever a firewall might send: query secrets, cookies, a form body with a password, any path.
      const res = await fetch(`${url}/other/api?user=bob&api_key=${encodeURIComponent(SECRET)}`, {
        method: 'PUT',
        headers: { cookie: `sid=${SECRET}`, 'x-api-key': SECRET, 'content-type': 'application/x-www-form-urlencoded' },
        body: `user=bob&password=${encodeURIComponent(SECRET)}&x=1`,
      });
      expect(res.status).toBe(200);
    } finally {
      await sim.close();
    }
    const text = readFileSync(file, 'utf8');
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => `${l.method} ${l.path}`)).toEqual([
      'POST /oauth_token/oauth',
      'POST /some/ptim/path',
      'POST /oauth_token/oauth',
      'POST /some/ptim/path',
      'PUT /other/api',
    ]);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(encodeURIComponent(SECRET));
    interface Line {
      time: string;
      body: string;
      headers: Record<string, string>;
      query: Record<string, string>;
    }
    const [jsonToken, push1, basicToken, push2, other] = lines as unknown as [Line, Line, Line, Line, Line];
    // The shape stays readable: that is what the operator copies into the settings.
    expect(JSON.parse(jsonToken.body)).toEqual({
      grant_type: 'client_credentials',
      client_id: 'srx1',
      client_secret: '[masked]',
    });
    expect(basicToken.headers.authorization).toBe('Basic [masked; client_id=srx1]');
    expect(basicToken.body).toBe('grant_type=client_credentials');
    expect(push1.headers.authorization).toBe('Bearer [masked]');
    expect(push1.headers['content-type']).toBe('application/xml');
    expect(push1.body).toContain('<IP>198.51.100.7</IP>');
    expect(push2.time).toEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT/));
    expect(other.query).toEqual({ user: 'bob', api_key: '[masked]' });
    expect(other.headers.cookie).toBe('[masked]');
    expect(other.headers['x-api-key']).toBe('[masked]');
    expect(other.body).toBe('user=bob&password=[masked]&x=1');
  });
});
