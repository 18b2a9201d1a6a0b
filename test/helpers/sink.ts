// A writable stream that keeps what is written to it, for commands that print to a stream.
import { Writable } from 'node:stream';

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
