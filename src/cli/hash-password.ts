// `ptim-bridge hash-password`: makes the `passwordHash` of an ops.console user (the password is
// read from standard input, without echo on a terminal), or with --token a new bearer token and
// its `tokenHash`. Nothing secret is written anywhere but standard output.
import { hashPassword, hashToken, newToken } from '../console/password.js';

type In = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (on: boolean) => unknown };
type Out = NodeJS.WritableStream;

/** Reads one line; on a terminal the typed characters are not shown. */
async function readSecretLine(input: In, prompt: Out): Promise<string> {
  if (input.isTTY && input.setRawMode) {
    prompt.write('Password: ');
    input.setRawMode(true);
    try {
      let s = '';
      for await (const chunk of input) {
        for (const ch of String(chunk)) {
          if (ch === '\r' || ch === '\n') return s;
          if (ch === '\u0003') throw new Error('cancelled');
          if (ch === '\u007f') s = s.slice(0, -1);
          else s += ch;
        }
      }
      return s;
    } finally {
      input.setRawMode(false);
      prompt.write('\n');
    }
  }
  let text = '';
  for await (const chunk of input) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

export const MIN_PASSWORD_CHARS = 12;

export async function runHashPassword(opts: { token?: boolean }, input: In, out: Out, err: Out): Promise<number> {
  if (opts.token) {
    const token = newToken();
    out.write(`token: ${token}\ntokenHash: ${hashToken(token)}\n`);
    err.write('Give the token to the API client; put only tokenHash in ops.console.tokens.\n');
    return 0;
  }
  const password = await readSecretLine(input, err);
  if (password.length < MIN_PASSWORD_CHARS) {
    err.write(`a console password needs at least ${MIN_PASSWORD_CHARS} characters\n`);
    return 2;
  }
  out.write(`${await hashPassword(password)}\n`);
  return 0;
}
