// Matching order and candidate reporting, on hand-built patterns (no loader, no recheck).
import XRegExp from 'xregexp';
import { describe, expect, it } from 'vitest';
import { matchMessage, type CompiledPattern } from '../../../src/match/matcher.js';
import type { SyslogMessage } from '../../../src/types.js';

function pattern(id: string, regex: string, extra: Partial<CompiledPattern> = {}): CompiledPattern {
  const literals = extra.literals ?? ['VPN_UP_ALARM_USER'];
  return {
    id,
    description: id,
    kind: 'up',
    tags: ['KMD_VPN_UP_ALARM_USER'],
    literals,
    needles: literals.map((l) => Buffer.from(l)),
    regex: XRegExp(regex, 'x'),
    regexSource: regex,
    optional: [],
    transforms: {},
    verified: true,
    enabled: true,
    file: 'test.yaml',
    line: 1,
    ...extra,
  };
}

const msg = (text: string, msgId = 'KMD_VPN_UP_ALARM_USER'): SyslogMessage => ({
  format: 'rfc3164',
  msgId,
  structuredData: [],
  text,
});
const bytes = (text: string, tag = 'KMD_VPN_UP_ALARM_USER') => Buffer.from(`<30>Mar  3 14:02:11 fw kmd[1]: ${tag}: ${text}`);

describe('matchMessage', () => {
  const general = pattern('general', '^user=(?<user>\\S+)');
  const specific = pattern('specific', '^user=(?<user>\\S+)\\ ip=(?<ip>\\S+)$');

  it('first match wins, in library order', () => {
    const text = 'user=alice ip=192.0.2.1';
    expect(matchMessage([general, specific], msg(text), bytes(text))).toMatchObject({ matched: true, patternId: 'general' });
    expect(matchMessage([specific, general], msg(text), bytes(text))).toMatchObject({
      matched: true,
      patternId: 'specific',
      fields: { user: 'alice', ip: '192.0.2.1' },
    });
  });

  it('skips disabled patterns and patterns whose literals are absent', () => {
    const text = 'user=alice ip=192.0.2.1';
    const off = { ...general, enabled: false };
    const other = pattern('other', '^user=(?<user>\\S+)', { literals: ['SOMETHING_ELSE'] });
    expect(matchMessage([off, other, specific], msg(text), bytes(text))).toMatchObject({ patternId: 'specific' });
  });

  it('strips an explicit-priority prefix from the tag', () => {
    const text = 'user=alice ip=192.0.2.1';
    expect(matchMessage([specific], msg(text, '%DAEMON-6-KMD_VPN_UP_ALARM_USER'), bytes(text))).toMatchObject({ matched: true });
  });

  it('names the closest candidate: a tag match beats a literal-only match', () => {
    const text = 'user=alice';
    const wrongTag = pattern('wrong-tag', '^x', { tags: ['IKE_VPN_UP_ALARM_USER'] });
    const r = matchMessage([wrongTag, specific], msg(text), bytes(text));
    expect(r).toMatchObject({ matched: false, code: 'regex_no_match', reason: 'the text does not match the regex' });
    expect(!r.matched && r.candidate?.id).toBe('specific');
    const r2 = matchMessage([wrongTag], msg(text), bytes(text));
    expect(r2).toMatchObject({ matched: false, code: 'tag_mismatch' });
    expect(!r2.matched && r2.reason).toContain('is not one of [IKE_VPN_UP_ALARM_USER]');
  });

  it('reports a line no pattern is interested in', () => {
    expect(matchMessage([specific], msg('x', 'RT_FLOW_SESSION_CREATE'), Buffer.from('RT_FLOW'))).toEqual({
      matched: false,
      code: 'no_candidate',
      reason: expect.stringContaining('literals'),
    });
  });

  it('maps structured data for SD-only patterns, only on lines without text', () => {
    const sd = pattern('sd', '', {
      regex: undefined,
      regexSource: undefined,
      sd: { user: 'aaa-username', ip: 'remote-traffic-selector', reason: 'reason' },
      optional: ['reason'],
      transforms: { ip: ['ts_addresses'] },
    });
    const m: SyslogMessage = {
      format: 'rfc5424',
      msgId: 'KMD_VPN_UP_ALARM_USER',
      structuredData: [
        { id: 'junos@2636.1.1.1.2.129', params: { 'aaa-username': 'alice', 'remote-traffic-selector': 'ipv4(10.10.50.11)' } },
      ],
      text: ' ',
    };
    expect(matchMessage([sd], m, bytes(''))).toMatchObject({ matched: true, fields: { user: 'alice', ip: ['10.10.50.11'] } });
    expect(matchMessage([sd], { ...m, text: 'VPN x' }, bytes(''))).toMatchObject({ matched: false });
    const noUser = { ...m, structuredData: [{ id: 'junos@2636.1', params: { 'remote-traffic-selector': 'ipv4(10.10.50.11)' } }] };
    expect(matchMessage([sd], noUser, bytes(''))).toMatchObject({
      matched: false,
      reason: expect.stringContaining('aaa-username'),
    });
  });
});
