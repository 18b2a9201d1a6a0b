import { describe, expect, it } from 'vitest';
import { transition, type IpState } from '../../../src/sessions/model.js';
import { line, rows, rules, stepNow, T0 } from './table.js';

describe('session transition table (pure model)', () => {
  for (const row of rows) {
    it(row.name, () => {
      const cfg = { ...rules, ...row.rules };
      let state: IpState | undefined;
      for (const step of row.steps) {
        const t = transition(state, step.input, cfg, stepNow(step));
        expect(t.decision).toBe(step.decision);
        expect(t.emit).toHaveLength(step.emit?.length ?? 0);
        expect(t.emit).toMatchObject(step.emit ?? []);
        state = t.state;
      }
      expect(state?.seq ?? 0).toBe(row.seq);
      if (row.session === null) expect(state?.session).toBeUndefined();
      else expect(state?.session).toMatchObject(row.session);
    });
  }

  it('never lowers seq and stamps every emitted event with the next one', () => {
    let state: IpState | undefined = { seq: 41 };
    const t1 = transition(state, line('up'), rules, T0);
    const t2 = transition(t1.state, line('up', { user: 'bob', receivedAt: T0 + 1 }), rules, T0 + 1);
    expect([...t1.emit, ...t2.emit].map((e) => e.seq)).toEqual([42, 43, 44]);
    state = t2.state;
    expect(state.seq).toBe(44);
  });
});
