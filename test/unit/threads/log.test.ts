import { describe, expect, it } from 'vitest';
import { replayLog, threadLogger, type LogRecord } from '../../../src/threads/log.js';
import { captureLogs } from '../../helpers/sink.js';

describe('thread logger', () => {
  it('posts records at or above the level, as plain data a message can carry', () => {
    const posted: LogRecord[] = [];
    const log = threadLogger('info', (r) => posted.push(r));
    log.debug({ a: 1 }, 'hidden');
    log.info({ a: 1, nested: { b: [2] } }, 'shown');
    log.warn('message only');
    log.error({ err: Object.assign(new Error('boom'), { code: 'E_X' }) }, 'failed');
    expect(posted.map((r) => [r.level, r.msg])).toEqual([
      ['info', 'shown'],
      ['warn', 'message only'],
      ['error', 'failed'],
    ]);
    expect(posted[0]!.obj).toEqual({ a: 1, nested: { b: [2] } });
    expect(posted[2]!.obj).toEqual({ err: { type: 'Error', message: 'boom', code: 'E_X' } });
    for (const r of posted) expect(structuredClone(r)).toEqual(r);
    expect(log.isLevelEnabled('debug')).toBe(false);
    expect(log.isLevelEnabled('warn')).toBe(true);
  });

  it('never throws on fields JSON cannot carry (a cycle, a bigint)', () => {
    const posted: LogRecord[] = [];
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    threadLogger('info', (r) => posted.push(r)).warn({ cyclic, big: 10n }, 'odd fields');
    expect(posted[0]!.obj).toEqual({ cyclic: { a: 1, self: '[Circular]' }, big: '10' });
  });

  it("keeps a child's fields on its records", () => {
    const posted: LogRecord[] = [];
    threadLogger('info', (r) => posted.push(r))
      .child({ component: 'udp' })
      .warn({ port: 514 }, 'x');
    expect(posted[0]!.obj).toEqual({ component: 'udp', port: 514 });
  });

  it('is replayed on the main thread through its logger, named and redacted', () => {
    const logs = captureLogs();
    const posted: LogRecord[] = [];
    threadLogger('info', (r) => posted.push(r)).warn({ password: 'p', port: 1 }, 'from a thread');
    replayLog(logs.logger, 'receive', posted[0]!);
    expect(logs.lines()[0]).toMatchObject({
      level: 40,
      msg: 'from a thread',
      thread: 'receive',
      port: 1,
      password: '[redacted]',
    });
  });
});
