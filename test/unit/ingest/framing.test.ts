import { describe, expect, it } from 'vitest';
import { StreamFramer, frameDatagram, type Frame, type FrameDropReason } from '../../../src/ingest/framing.js';
import { loadSamples } from '../../fixtures/samples.js';

const MAX = 1024;

function framer(opts: { max?: number; cont?: number } = {}) {
  const drops: FrameDropReason[] = [];
  const f = new StreamFramer({
    maxMessageBytes: opts.max ?? MAX,
    maxContinuationLines: opts.cont ?? 4,
    onDrop: (r) => drops.push(r),
  });
  return { f, drops };
}

const text = (frames: Frame[]) => frames.map((x) => x.bytes.toString('latin1'));
const b = (s: string) => Buffer.from(s, 'latin1');
const octet = (s: string) => `${Buffer.byteLength(s, 'latin1')} ${s}`;

/** Feeds all input, then ends the stream. */
function run(f: StreamFramer, ...chunks: string[]): Frame[] {
  return [...chunks.flatMap((c) => f.push(b(c))), ...f.end()];
}

describe('StreamFramer: LF framing', () => {
  it('splits LF-terminated messages and strips a CR before the LF', () => {
    const { f, drops } = framer();
    expect(text(run(f, '<30>one\n<30>two\r\n<30>three\n'))).toEqual(['<30>one', '<30>two', '<30>three']);
    expect(drops).toEqual([]);
  });

  it('holds the last LF frame until the next frame starts, flushPending() or end()', () => {
    const { f } = framer();
    expect(text(f.push(b('<30>a\n')))).toEqual([]);
    expect(f.hasPending()).toBe(true);
    expect(text(f.push(b('<')))).toEqual(['<30>a']);
    expect(text(f.push(b('30>b\n')))).toEqual([]);
    expect(text(f.flushPending())).toEqual(['<30>b']);
    expect(f.hasPending()).toBe(false);
    expect(text(f.push(b('<30>c\n')))).toEqual([]);
    expect(text(f.end())).toEqual(['<30>c']);
  });

  it('emits a final message without a trailing LF at end of stream', () => {
    const { f } = framer();
    expect(text(run(f, '<30>a\n<30>b'))).toEqual(['<30>a', '<30>b']);
  });

  it('reassembles frames split at every byte', () => {
    const { f } = framer();
    const input = '<30>first\r\n' + octet('<30>second') + '<30>third\n';
    const out: Frame[] = [];
    for (const ch of input) out.push(...f.push(b(ch)));
    out.push(...f.end());
    expect(text(out)).toEqual(['<30>first', '<30>second', '<30>third']);
  });

  it('skips blank lines between messages', () => {
    const { f, drops } = framer();
    expect(text(run(f, '\n\n<30>a\n\n\r\n<30>b\n\n'))).toEqual(['<30>a', '<30>b']);
    expect(drops).toEqual([]);
  });
});

describe('StreamFramer: octet counting', () => {
  it('reads octet-counted frames, including ones that contain LF', () => {
    const { f } = framer();
    expect(text(run(f, octet('<30>a\nb') + octet('<30>c')))).toEqual(['<30>a\nb', '<30>c']);
  });

  it('mixes octet-counted and LF frames on one connection, detected per frame', () => {
    const { f } = framer();
    const input = octet('<30>o1') + '<30>l1\n' + octet('<30>o2') + octet('<30>o3') + '<30>l2\r\n<30>l3\n' + octet('<30>o4');
    expect(text(run(f, input))).toEqual(['<30>o1', '<30>l1', '<30>o2', '<30>o3', '<30>l2', '<30>l3', '<30>o4']);
  });

  it('strips one trailing LF counted inside an octet frame', () => {
    const { f } = framer();
    expect(text(run(f, octet('<30>a\n') + octet('<30>b\r\n')))).toEqual(['<30>a', '<30>b']);
  });

  it('skips an oversize octet-counted frame without buffering it, and counts it', () => {
    const { f, drops } = framer({ max: 1024 });
    const big = '<30>' + 'x'.repeat(5000);
    const out: Frame[] = [];
    let peak = 0;
    for (const part of [octet(big).slice(0, 100), octet(big).slice(100, 3000), octet(big).slice(3000), octet('<30>next')]) {
      out.push(...f.push(b(part)));
      peak = Math.max(peak, f.bufferedBytes());
    }
    out.push(...f.end());
    expect(text(out)).toEqual(['<30>next']);
    expect(drops).toEqual(['oversize']);
    expect(peak).toBeLessThan(100);
  });

  it('accepts a frame of exactly maxMessageBytes', () => {
    const { f, drops } = framer({ max: 1024 });
    const m = '<30>' + 'y'.repeat(1020);
    expect(text(run(f, octet(m)))).toEqual([m]);
    expect(drops).toEqual([]);
  });

  it('drops an octet frame cut short by the end of the stream', () => {
    const { f, drops } = framer();
    expect(text(run(f, '<30>a\n20 <30>short'))).toEqual(['<30>a']);
    expect(drops).toEqual(['bad_frame']);
  });
});

describe('StreamFramer: bad counts and resync', () => {
  it('resyncs at the next LF after junk where a frame should start', () => {
    const { f, drops } = framer();
    expect(text(run(f, 'garbage here\n<30>ok\n'))).toEqual(['<30>ok']);
    expect(drops).toEqual(['bad_frame']);
  });

  it('treats an over-long digit run, a leading zero or a missing space as junk', () => {
    for (const junk of ['123456789 <30>x\n', '012 <30>x\n', '12x\n', '99\n']) {
      const { f, drops } = framer();
      expect(text(run(f, junk + '<30>ok\n'))).toEqual(['<30>ok']);
      expect(drops).toEqual(['bad_frame']);
    }
  });

  it('counts junk without an LF once and keeps memory bounded', () => {
    const { f, drops } = framer();
    for (let k = 0; k < 100; k++) expect(f.push(b('#'.repeat(1000)))).toEqual([]);
    expect(f.bufferedBytes()).toBeLessThanOrEqual(16);
    expect(drops).toEqual(['bad_frame']);
  });
});

describe('StreamFramer: oversize LF frames', () => {
  it('cuts an LF frame at maxMessageBytes, emits it at once as truncated, discards the rest to LF', () => {
    const { f, drops } = framer({ max: 1024 });
    const long = '<30>' + 'z'.repeat(3000);
    const first = f.push(b(long.slice(0, 2000)));
    expect(first).toHaveLength(1);
    expect(first[0]!.truncated).toBe(true);
    expect(first[0]!.bytes.length).toBe(1024);
    expect(first[0]!.bytes.toString()).toBe(long.slice(0, 1024));
    expect(text([...f.push(b(long.slice(2000) + '\n<30>after\n')), ...f.end()])).toEqual(['<30>after']);
    expect(drops).toEqual([]);
  });

  it('keeps memory bounded for a never-ending line', () => {
    const { f } = framer({ max: 1024 });
    let frames = 0;
    frames += f.push(b('<30>')).length;
    for (let k = 0; k < 200; k++) {
      frames += f.push(b('a'.repeat(997))).length;
      expect(f.bufferedBytes()).toBeLessThanOrEqual(2 * 1024 + 16);
    }
    expect(frames).toBe(1);
  });
});

describe('StreamFramer: continuation join (binary IKE-IDs with 0x0A)', () => {
  it('joins a PRI-less piece to the message before it, restoring the LF', () => {
    const { f } = framer();
    const msg = '<30>kmd: Local IKE-ID: \x0a\x14\x1e\x28, Remote IKE-ID: 198.51.100.5';
    const out = run(f, msg + '\n<30>next\n');
    expect(text(out)).toEqual([msg, '<30>next']);
    expect(out[0]!.continuations).toBe(1);
    expect(out[1]!.continuations).toBe(0);
  });

  it('joins the real sample C18 (bytes 0A 14 1E 28) sent with LF framing, split anywhere', () => {
    const c18 = loadSamples().find((s) => s.id === 'C18');
    expect(c18).toBeDefined();
    const wire = Buffer.concat([c18!.bytes, b('\n'), c18!.bytes, b('\r\n')]);
    for (let cut = 1; cut < wire.length; cut += 37) {
      const { f } = framer();
      const out = [...f.push(wire.subarray(0, cut)), ...f.push(wire.subarray(cut)), ...f.end()];
      expect(out.map((x) => x.bytes)).toEqual([c18!.bytes, c18!.bytes]);
    }
  });

  it('keeps CR LF inside a binary IKE-ID (0x0D 0x0A) and empty pieces (0x0A 0x0A)', () => {
    const { f } = framer();
    const crlf = '<30>id: \x0d\x0a\x44\xca, tail';
    const lflf = '<30>id: \x0a\x0a\x1e\x28, tail';
    expect(text(run(f, crlf + '\n' + lflf + '\n<30>x\n'))).toEqual([crlf, lflf, '<30>x']);
  });

  it('does not mistake a piece starting with "<digits> " for an octet frame unless "<" follows', () => {
    const { f } = framer();
    const ambiguous = '<30>id: \x0a1 \x20\x05, tail';
    expect(text(run(f, ambiguous + '\n' + octet('<30>real')))).toEqual([ambiguous, '<30>real']);
  });

  it('joins at most maxContinuationLines pieces; further pieces are bad frames', () => {
    const { f, drops } = framer({ cont: 2 });
    const out = run(f, '<30>a\nb\nc\nd\n<30>e\n');
    expect(text(out)).toEqual(['<30>a\nb\nc', '<30>e']);
    expect(out[0]!.continuations).toBe(2);
    expect(drops).toEqual(['bad_frame']);
  });

  it('with maxContinuationLines 0 never joins', () => {
    const { f, drops } = framer({ cont: 0 });
    expect(text(run(f, '<30>a\nb\n<30>c\n'))).toEqual(['<30>a', '<30>c']);
    expect(drops).toEqual(['bad_frame']);
  });

  it('bounds a joined message by maxMessageBytes (truncated)', () => {
    const { f } = framer({ max: 1024 });
    const out = run(f, '<30>' + 'a'.repeat(700) + '\n' + 'b'.repeat(700) + '\n<30>c\n');
    expect(out).toHaveLength(2);
    expect(out[0]!.truncated).toBe(true);
    expect(out[0]!.bytes.length).toBe(1024);
    expect(text(out.slice(1))).toEqual(['<30>c']);
  });

  it('flushPending() does not release a frame while a continuation piece is incomplete', () => {
    const { f } = framer();
    f.push(b('<30>a\nrest-without-lf'));
    expect(f.flushPending()).toEqual([]);
    expect(text([...f.push(b('\n')), ...f.flushPending()])).toEqual(['<30>a\nrest-without-lf']);
  });
});

describe('StreamFramer: NUL and no delimiter (Python SysLogHandler, rsyslog AddtlFrameDelimiter)', () => {
  it('splits NUL-terminated messages, alone or mixed with LF and CRLF', () => {
    const { f, drops } = framer();
    expect(text(run(f, '<14>kmd[1]: a\0<14>kmd[1]: b\0<30>c\r\n<30>d\n\0<30>e\0'))).toEqual([
      '<14>kmd[1]: a',
      '<14>kmd[1]: b',
      '<30>c',
      '<30>d',
      '<30>e',
    ]);
    expect(drops).toEqual([]);
  });

  it('joins a binary IKE-ID holding 0x00 back together with its NUL', () => {
    const { f } = framer();
    const frames = run(f, '<30>x Local IKE-ID: \x0d\x00\x05\x07, rest\n<30>next\n');
    expect(text(frames)).toEqual(['<30>x Local IKE-ID: \x0d\x00\x05\x07, rest', '<30>next']);
    expect(frames[0]!.continuations).toBe(1);
  });

  it('splits messages sent back to back at their <PRI> header, whatever the chunking', () => {
    const wire =
      '<14>kmd[2183]: KMD_VPN_UP_ALARM_USER: a <none> b<14>iked[9]: IKE_VPN_UP_ALARM_USER: c<30>Mar  3 14:02:11 srx kmd[1]: d';
    for (let cut = 0; cut <= wire.length; cut++) {
      const { f } = framer();
      expect(text(run(f, wire.slice(0, cut), wire.slice(cut)))).toEqual([
        '<14>kmd[2183]: KMD_VPN_UP_ALARM_USER: a <none> b',
        '<14>iked[9]: IKE_VPN_UP_ALARM_USER: c',
        '<30>Mar  3 14:02:11 srx kmd[1]: d',
      ]);
    }
  });

  it('releases an unterminated message on a quiet flush only once the connection sent without delimiters', () => {
    const { f } = framer();
    expect(text(f.push(b('<14>kmd[1]: a')))).toEqual([]);
    expect(f.hasPending()).toBe(false); // could still be a TCP segment of an LF line: wait
    expect(text(f.flushPending())).toEqual([]);
    expect(text(f.push(b('<14>kmd[1]: b')))).toEqual(['<14>kmd[1]: a']);
    expect(f.hasPending()).toBe(true);
    expect(text(f.flushPending())).toEqual(['<14>kmd[1]: b']);
    expect(text(f.end())).toEqual([]);
  });
});

describe('frameDatagram', () => {
  it('strips exactly one trailing LF, CRLF or NUL', () => {
    expect(frameDatagram(b('<30>a\n'), MAX).bytes.toString()).toBe('<30>a');
    expect(frameDatagram(b('<30>a\r\n'), MAX).bytes.toString()).toBe('<30>a');
    expect(frameDatagram(b('<30>a\0'), MAX).bytes.toString()).toBe('<30>a');
    expect(frameDatagram(b('<30>a\n\n'), MAX).bytes.toString()).toBe('<30>a\n');
    expect(frameDatagram(b('<30>a\x0a\x14'), MAX).bytes.toString('latin1')).toBe('<30>a\x0a\x14');
  });

  it('cuts at maxMessageBytes and says so', () => {
    const r = frameDatagram(b('x'.repeat(2000)), 1024);
    expect(r.truncated).toBe(true);
    expect(r.bytes.length).toBe(1024);
    expect(frameDatagram(b('x'.repeat(1024) + '\n'), 1024).truncated).toBe(false);
  });
});
