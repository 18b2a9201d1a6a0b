import { describe, expect, it } from 'vitest';
import { ipKey } from '../../../src/redis/keys.js';
import { runSessionCall, runSessionScript, SESSION_SCRIPT } from '../../../src/sessions/script.js';
import { transition, type IpState } from '../../../src/sessions/model.js';
import { line, rows, rules, stepNow, T0 } from '../../unit/sessions/table.js';
import { canonState, normalize, readIpState, readOutbox, useRedis } from './redis-state.js';

const db = useRedis();

describe('session transition table through the Lua script', () => {
  rows.forEach((row, i) => {
    it(row.name, async () => {
      const prefix = `${db.server.keyPrefix}r${i}`;
      const key = ipKey('192.0.2.10');
      const cfg = { ...rules, ...row.rules };
      const emitted = [];
      let model: IpState | undefined;
      for (const step of row.steps) {
        const r = await runSessionScript(db.redis, prefix, key, step.input, cfg, stepNow(step));
        expect(r.decision).toBe(step.decision);
        expect(r.events).toHaveLength(step.emit?.length ?? 0);
        expect(r.events).toMatchObject(step.emit ?? []);
        // The script and the model agree on every field, not only on the ones the row names.
        const t = transition(model, step.input, cfg, stepNow(step));
        expect(normalize(r.events)).toEqual(normalize(t.emit));
        model = t.state;
        emitted.push(...r.events);
      }
      const { state, indexScore } = await readIpState(db.redis, prefix, key);
      expect(state?.seq ?? 0).toBe(row.seq);
      if (row.session === null) {
        expect(state?.session).toBeUndefined();
        expect(indexScore).toBeNull();
      } else {
        expect(state?.session).toMatchObject(row.session);
        expect(indexScore).toBe(state?.session?.lastUpAt);
      }
      expect(canonState(state)).toEqual(canonState(model));
      // The outbox holds exactly the emitted events, in order, keyed by the IP key.
      const outbox = await readOutbox(db.redis, prefix);
      expect(outbox).toEqual(emitted.map((event) => ({ ipKey: key, event })));
    });
  });

  it('survives a flushed script cache (EVALSHA falls back to EVAL)', async () => {
    const prefix = `${db.server.keyPrefix}flush`;
    await runSessionScript(db.redis, prefix, 'k1', line('up'), rules, 1);
    await db.redis.script('FLUSH');
    const r = await runSessionScript(db.redis, prefix, 'k1', line('down'), rules, 2);
    expect(r.decision).toBe('disconnect');
  });

  it('declares no TIME call and no key outside KEYS', () => {
    expect(SESSION_SCRIPT).not.toMatch(/'TIME'/i);
    // Every redis.call names its key through one of the KEYS-bound locals.
    for (const m of SESSION_SCRIPT.matchAll(/redis\.call\('(\w+)', (\w+)/g)) {
      const locals = [
        'sKey',
        'tKey',
        'idxKey',
        'seqKey',
        'outKey',
        'appliedKey',
        'deliveredKey',
        'floorKey',
        'lastKey',
        'endedKey',
        'journalsKey',
      ];
      expect(locals).toContain(m[2]);
    }
  });

  describe('one call, many inputs', () => {
    const a = ipKey('192.0.2.1');
    const b = ipKey('2001:db8::1');
    const inputs = [
      { key: a, input: line('up', { ip: '192.0.2.1', correlationId: 'a1' }), n: 0 },
      { key: b, input: line('up', { ip: '2001:db8::1', user: 'bob', correlationId: 'b1' }), n: 1 },
      { key: a, input: line('down', { ip: '192.0.2.1', receivedAt: T0 + 1, correlationId: 'a2' }), n: 2 },
      { key: a, input: line('up', { ip: '192.0.2.1', user: 'carol', receivedAt: T0 + 2, correlationId: 'a3' }), n: 3 },
    ];

    it('applies mixed IPs in order, each IP its own seq', async () => {
      const prefix = `${db.server.keyPrefix}batch`;
      const replies = await runSessionCall(db.redis, prefix, { source: 's1', inputs }, rules, T0 + 10);
      expect(replies.map((r) => (r.type === 'applied' ? [r.result.decision, r.result.seq] : r.type))).toEqual([
        ['connect', 1],
        ['connect', 1],
        ['disconnect', 2],
        ['connect', 3],
      ]);
      expect(
        (await readOutbox(db.redis, prefix)).map((e) => [e.ipKey, e.event.kind, e.event.seq, e.event.correlationId]),
      ).toEqual([
        [a, 'connect', 1, 'a1'],
        [b, 'connect', 1, 'b1'],
        [a, 'disconnect', 2, 'a2'],
        [a, 'connect', 3, 'a3'],
      ]);
    });

    it('skips a re-sent input of the same source, applies the rest once', async () => {
      const prefix = `${db.server.keyPrefix}resend`;
      await runSessionCall(db.redis, prefix, { source: 's1', inputs: inputs.slice(0, 2) }, rules, T0 + 10);
      // The reply of the first call was "lost": the engine sends the first two again, with two more.
      const replies = await runSessionCall(db.redis, prefix, { source: 's1', inputs }, rules, T0 + 10);
      expect(replies.map((r) => r.type)).toEqual(['skipped', 'skipped', 'applied', 'applied']);
      expect(await readOutbox(db.redis, prefix)).toHaveLength(4);
      // Another source's numbers are its own.
      const other = await runSessionCall(db.redis, prefix, { source: 's2', inputs: inputs.slice(0, 1) }, rules, T0 + 10);
      expect(other.map((r) => r.type)).toEqual(['applied']);
    });

    it("keeps one input's failure to that input", async () => {
      const prefix = `${db.server.keyPrefix}poison`;
      await db.redis.set(`{${prefix}}:s:${b}`, 'not a hash');
      const replies = await runSessionCall(db.redis, prefix, { source: 's1', inputs }, rules, T0 + 10);
      expect(replies.map((r) => r.type)).toEqual(['applied', 'error', 'applied', 'applied']);
      const r = replies[1];
      expect(r?.type === 'error' && r.error.message).toMatch(/WRONGTYPE/);
      expect((await readOutbox(db.redis, prefix)).map((e) => e.event.correlationId)).toEqual(['a1', 'a2', 'a3']);
    });
  });
});
