import { describe, expect, it } from 'vitest';
import { ipKey } from '../../../src/redis/keys.js';
import { runSessionScript, SESSION_SCRIPT } from '../../../src/sessions/script.js';
import { transition, type IpState } from '../../../src/sessions/spec.js';
import { line, rows, rules, stepNow } from '../../unit/sessions/table.js';
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
      expect(['sKey', 'tKey', 'idxKey', 'seqKey', 'outKey']).toContain(m[2]);
    }
  });
});
