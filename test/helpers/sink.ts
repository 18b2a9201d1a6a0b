// A writable stream that keeps what is written to it, for commands that print to a stream, and a
// logger (the bridge's own, redaction included) whose lines are kept for assertions.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export interface TextSink {
  readonly stream: Writable;
  /** Everything written so far. */
  text(): string;
}

export function textSink(): TextSink {
  let text = '';
  const stream = new Writable({
    write(c: Buffer, _e, cb) {
      text += c.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

/** The bridge's logger at `level`, writing into memory: its text and its lines parsed. */
export function captureLogs(level = 'debug'): {
  logger: Logger;
  text: () => string;
  lines: () => Array<Record<string, unknown>>;
} {
  const sink = textSink();
  return {
    logger: createLogger({ level, name: 'test' }, sink.stream),
    text: sink.text,
    lines: () =>
      sink
        .text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
