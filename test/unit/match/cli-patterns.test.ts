// `patterns test` and `patterns explain` as operators see them: exit codes and the key lines.
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runPatternsExplain, runPatternsTest } from '../../../src/cli/patterns.js';
import { defaultConfig } from '../../../src/config/schema.js';
import { loadSamples } from '../../fixtures/samples.js';
import { textSink } from '../../helpers/sink.js';

const SHIPPED = fileURLToPath(new URL('../../../patterns', import.meta.url));
const BAD = fileURLToPath(new URL('../../fixtures/patterns-bad/many', import.meta.url));

const sample = (id: string) => loadSamples().find((s) => s.id === id)!.bytes;

describe('patterns CLI', () => {
  it('test: passes on the shipped library and says which patterns are unverified', async () => {
    const s = textSink();
    expect(await runPatternsTest([SHIPPED], s.stream)).toBe(0);
    expect(s.text()).toMatch(/^PASS: 7 pattern\(s\) loaded, \d+ example/m);
    expect(s.text()).toMatch(/vpn-up-brief .*UNVERIFIED/);
  });

  it('test: fails with every problem listed', async () => {
    const s = textSink();
    expect(await runPatternsTest([BAD], s.stream)).toBe(1);
    expect(s.text()).toContain('t-up.regx: unknown key');
    expect(s.text()).toContain('t-six.examples[0]');
    expect(s.text()).toMatch(/^FAIL: /m);
  });

  it('explain: shows the match, the fields and the event, from a byte stream', async () => {
    const s = textSink();
    const input = new PassThrough();
    input.end(Buffer.concat([sample('C1'), Buffer.from('\r\n<30>'), sample('V2'), Buffer.from('\n')]));
    expect(await runPatternsExplain([SHIPPED], defaultConfig().identity, input, s.stream)).toBe(0);
    expect(s.text()).toContain('matched:   kmd-vpn-up');
    expect(s.text()).toContain('event:     up user="alice"');
    expect(s.text()).toContain('ignored:   placeholder_user');
  });

  it('explain: frames its input as the live receiver does, so a binary IKE-ID holding LF is one message (C18)', async () => {
    const s = textSink();
    const input = new PassThrough();
    // C18: kmd prints the IPv4 IKE-ID 10.20.30.40 as raw bytes 0A 14 1E 28; then a NUL-framed line.
    input.end(Buffer.concat([sample('C18'), Buffer.from('\n'), sample('C1'), Buffer.from('\0')]));
    expect(await runPatternsExplain([SHIPPED], defaultConfig().identity, input, s.stream)).toBe(0);
    expect(s.text().match(/^message \d+:/gm)).toEqual(['message 1:', 'message 2:']);
    expect(s.text()).toContain('2 LF-separated pieces joined');
    expect(s.text().match(/^ {2}matched: {3}kmd-vpn-up /gm)).toHaveLength(2);
    expect(s.text()).toContain('ignored:   placeholder_user'); // C18 is a site-to-site tunnel
    expect(s.text()).toContain('event:     up user="alice"');
  });

  it('explain: reads a log file copy without <PRI> line by line, and says so', async () => {
    const s = textSink();
    const input = new PassThrough();
    input.end(Buffer.concat([sample('V1'), Buffer.from('\n'), sample('V2'), Buffer.from('\n')]));
    expect(await runPatternsExplain([SHIPPED], defaultConfig().identity, input, s.stream)).toBe(0);
    expect(s.text()).toContain('explained line by line');
    expect(s.text().match(/^message \d+:/gm)).toEqual(['message 1:', 'message 2:']);
  });

  it('explain: names the closest candidate and where the regex stopped', async () => {
    const s = textSink();
    expect(await runPatternsExplain([SHIPPED], defaultConfig().identity, [sample('C20').toString('utf8')], s.stream)).toBe(0);
    expect(s.text()).toContain('closest candidate: iked-vpn-up');
    expect(s.text()).toContain('Traffic-selector\\ remote\\ ID');
  });

  it('explain --json: one object per line, and says when a pattern is unverified', async () => {
    const s = textSink();
    await runPatternsExplain([SHIPPED], defaultConfig().identity, [sample('C16').toString('utf8')], s.stream, { json: true });
    const rec = JSON.parse(s.text().trim()) as { matched: { patternId: string; verified: boolean }; result: { type: string } };
    expect(rec.matched).toMatchObject({ patternId: 'vpn-up-brief', verified: false });
    expect(rec.result.type).toBe('event');
  });

  it('explain: exit code 1 when the library does not load', async () => {
    const s = textSink();
    expect(await runPatternsExplain([BAD], defaultConfig().identity, [], s.stream)).toBe(1);
  });

  it('explain: shows an excluded line as excluded, with the setting that did it', async () => {
    const s = textSink();
    const identity = { ...defaultConfig().identity, excludeGateways: ['JSC-GW'] };
    expect(await runPatternsExplain([SHIPPED], identity, [sample('C1').toString('utf8')], s.stream)).toBe(0);
    expect(s.text()).toContain('ignored:   excluded (gateway "JSC-GW" is excluded by identity.excludeGateways[0] ("JSC-GW"))');
    const j = textSink();
    await runPatternsExplain([SHIPPED], identity, [sample('C1').toString('utf8')], j.stream, { json: true });
    expect((JSON.parse(j.text().trim()) as { result: unknown }).result).toMatchObject({
      type: 'ignored',
      reason: 'excluded',
      setting: 'identity.excludeGateways[0]',
    });
  });
});
