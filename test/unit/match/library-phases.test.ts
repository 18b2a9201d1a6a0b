// The loader's phases one by one, on in-memory YAML: what each hands the next.
import { describe, expect, it } from 'vitest';
import type { Problem } from '../../../src/errors.js';
import { compilePatterns, judgeSafety, parsePatternFile, resolveSubpatterns, selfTest } from '../../../src/match/library.js';
import { parseSyslog } from '../../../src/syslog/parse.js';
import { verdictKey } from '../../../src/match/verdicts.js';

const text = `subpatterns:
  word: '[a-z]+'
patterns:
  - id: p-known
    description: t
    kind: up
    tags: [KMD_VPN_UP_ALARM_USER]
    match: [KMD_VPN_UP_ALARM_USER]
    regex: '^user=(?<user>{{word}})$'
    examples:
      - line: '<30>Mar  3 14:02:11 fw kmd[1]: KMD_VPN_UP_ALARM_USER: user=alice'
        fields: { user: alice }
  - id: p-new
    description: t
    kind: down
    tags: [KMD_VPN_DOWN_ALARM_USER]
    match: [KMD_VPN_DOWN_ALARM_USER]
    regex: '^bye=(?<user>{{word}})$'
    examples:
      - line: '<30>Mar  3 14:02:11 fw kmd[1]: KMD_VPN_DOWN_ALARM_USER: bye=alice'
        fields: { user: alice }
`;

function compiled() {
  const problems: Problem[] = [];
  const pf = parsePatternFile('mem.yaml', text, problems);
  const subs = resolveSubpatterns([pf], problems);
  const list = compilePatterns([pf], subs, problems, []);
  expect(problems).toEqual([]);
  return list;
}

describe('library phases', () => {
  it('parse → sub-patterns → compile: patterns with their regexes built from sub-patterns', () => {
    const list = compiled();
    expect(list.map((c) => [c.p.id, c.p.regex?.source])).toEqual([
      ['p-known', '^user=([a-z]+)$'],
      ['p-new', '^bye=([a-z]+)$'],
    ]);
  });

  it('judge safety: a stored safe verdict admits, none is pending (admitted), a refusal is a problem', () => {
    const list = compiled();
    const known = verdictKey(list[0]!.p.regex!.source, list[0]!.p.regex!.flags);
    const problems: Problem[] = [];
    const r = judgeSafety(list, { get: (k) => (k === known ? { status: 'safe' } : undefined) }, problems);
    expect(r.admitted.map((c) => c.p.id)).toEqual(['p-known', 'p-new']);
    expect(r.pending.map((x) => x.patternId)).toEqual(['p-new']);
    expect(r.regexes).toHaveLength(2);

    const refused = judgeSafety(list, { get: () => ({ status: 'unsupported', reason: 'unsupported: x' }) }, problems);
    expect(refused.admitted).toEqual([]);
    expect(problems.map((p) => p.path)).toEqual(['p-known.regex', 'p-new.regex']);
  });

  it('self-test: every example of every admitted pattern', () => {
    const problems: Problem[] = [];
    const results = selfTest(compiled(), parseSyslog, problems);
    expect(results.map((r) => [r.patternId, r.ok])).toEqual([
      ['p-known', true],
      ['p-new', true],
    ]);
    expect(problems).toEqual([]);
  });
});
