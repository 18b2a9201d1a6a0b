// Captures what each real sender puts on the wire for four SRX lines, once, into
// test/fixtures/senders/<case>.json, with the parse of every framed message. The capture is the
// tool's real output and is kept as is; `--reparse` only rewrites the `parsed` part (after a
// parser change: review the diff). TLS cases are not captured (the bytes inside are the TCP ones).
//
//   node --import tsx test/tools/sender-fixtures.ts            # capture every installed sender
//   node --import tsx test/tools/sender-fixtures.ts --reparse  # keep captures, re-parse them
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StreamFramer, frameDatagram } from '../../src/ingest/framing.js';
import { parseSyslog } from '../../src/syslog/parse.js';
import { loadSamples } from '../fixtures/samples.js';
import { SENDER_CASES, senderInstalled, senderPaths, type SenderCase } from '../helpers/senders.js';
import { waitFor } from '../helpers/wait.js';
import { escapeBytes } from './syslog-golden.js';

export const SENDER_FIXTURE_DIR = fileURLToPath(new URL('../fixtures/senders/', import.meta.url));

/**
 * The lines every sender relays: an iked UP (C10), a kmd UP with `%DAEMON-6-` (C5), an SRX5k UP
 * with its `(FPC Slot 3, PIC Slot 0) SPC3_PIC0` prefix (C7) and a kmd DOWN with a time-format-year
 * timestamp (C6); the last two are the headers relays misread.
 */
export const CAPTURED_SAMPLES = ['C10', 'C5', 'C7', 'C6'] as const;

export interface SenderFixture {
  id: string;
  tool: string;
  transport: 'udp' | 'tcp';
  /** One entry per datagram (UDP) or per connection (TCP): the bytes as received, `\xHH` escaped. */
  captured: string[];
  /** Every framed message, parsed. */
  parsed: Record<string, unknown>[];
}

export function unescapeCapture(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === 'x') {
      out.push(parseInt(s.slice(i + 2, i + 4), 16));
      i += 3;
    } else out.push(s.charCodeAt(i));
  }
  return Buffer.from(out);
}

/** Frames the captured bytes as the receivers do and parses each message. */
export function parseCapture(f: Pick<SenderFixture, 'transport' | 'captured'>): Record<string, unknown>[] {
  const frames: Buffer[] = [];
  for (const c of f.captured) {
    const bytes = unescapeCapture(c);
    if (f.transport === 'udp') frames.push(frameDatagram(bytes, 16 * 1024).bytes);
    else {
      const framer = new StreamFramer({ maxMessageBytes: 16 * 1024, maxContinuationLines: 4 });
      frames.push(...[...framer.push(bytes), ...framer.end()].map((x) => x.bytes));
    }
  }
  return frames.map((b) => {
    const m = parseSyslog(b);
    return {
      format: m.format,
      pri: m.pri ?? null,
      hostname: m.hostname ?? null,
      appName: m.appName ?? null,
      procId: m.procId ?? null,
      msgId: m.msgId ?? null,
      sdIds: m.structuredData.map((e) => e.id),
      text: m.text,
    };
  });
}

function toolVersion(c: SenderCase): string {
  const p = senderPaths();
  const first = (cmd: string | undefined, args: string[]) =>
    cmd ? (spawnSync(cmd, args, { encoding: 'utf8' }).stdout || '').split('\n')[0]!.trim() : '';
  if (c.sender === 'logger') return first(p.logger, ['--version']);
  if (c.sender === 'rsyslog') return first(p.rsyslog, ['-v']);
  if (c.sender === 'python') return `Python ${first(p.python, ['-c', 'import sys; print(sys.version.split()[0])'])}`;
  return 'syslog-ng 3.38';
}

async function capture(c: SenderCase, lines: Buffer[]): Promise<string[]> {
  const got: Buffer[][] = [];
  let port: number;
  let close: () => void;
  if (c.transport === 'udp') {
    const s = createSocket('udp4');
    s.on('message', (d) => got.push([d]));
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    port = s.address().port;
    close = () => s.close();
  } else {
    const server = createServer((sock) => {
      const conn: Buffer[] = [];
      got.push(conn);
      sock.on('data', (d: Buffer) => conn.push(d));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
    close = () => server.close();
  }
  const sender = await c.start({ port, transport: c.transport });
  await sender.send(lines);
  const text = () => Buffer.concat(got.flat()).toString('latin1');
  await waitFor(() => (text().match(/_VPN_(UP|DOWN)_ALARM_USER/g) ?? []).length >= lines.length, {
    timeoutMs: 15_000,
    what: `${c.id} to deliver`,
  });
  await sender.stop();
  close();
  return got.map((parts) => escapeBytes(Buffer.concat(parts)));
}

async function main(): Promise<void> {
  mkdirSync(SENDER_FIXTURE_DIR, { recursive: true });
  if (process.argv.includes('--reparse')) {
    for (const name of readdirSync(SENDER_FIXTURE_DIR).filter((n) => n.endsWith('.json'))) {
      const file = join(SENDER_FIXTURE_DIR, name);
      const f = JSON.parse(readFileSync(file, 'utf8')) as SenderFixture;
      writeFileSync(file, `${JSON.stringify({ ...f, parsed: parseCapture(f) }, null, 2)}\n`);
    }
    return;
  }
  const samples = loadSamples();
  const lines = CAPTURED_SAMPLES.map((id) => samples.find((s) => s.id === id)!.bytes);
  for (const c of SENDER_CASES) {
    if (c.transport === 'tls' || !senderInstalled(c)) continue;
    const captured = await capture(c, lines);
    const f: SenderFixture = { id: c.id, tool: toolVersion(c), transport: c.transport, captured, parsed: [] };
    f.parsed = parseCapture(f);
    writeFileSync(join(SENDER_FIXTURE_DIR, `${c.id}.json`), `${JSON.stringify(f, null, 2)}\n`);
    console.log(`captured ${c.id}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
