// Real third-party syslog senders driven as the test's own processes: util-linux `logger`,
// rsyslog (`omfwd`, with gtls), syslog-ng (`network()`, `syslog()`) and Python's
// `SysLogHandler`. Each runs with its own config and pid/state files in a temp dir and talks
// to unprivileged loopback ports; no system syslog daemon is touched.
//
// Relays (rsyslog, syslog-ng) take the SRX lines on a TCP input of their own, as a firewall
// would send them, and forward them with the configured driver/template. `logger` and Python
// compose the header themselves, so they get the line's process, pid, tag and text.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '../../src/demo/redis-server.js';
import { parseSyslog } from '../../src/syslog/parse.js';
import { waitFor } from './wait.js';

export type SenderName = 'logger' | 'rsyslog' | 'syslog-ng' | 'python';

export interface Target {
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** TLS: CA file that signed the receiver's certificate (for `localhost`). */
  readonly caFile?: string;
}

export interface SenderCase {
  /** Says what the case sends, e.g. `rsyslog-omfwd-tcp-octet-rfc5424`. */
  readonly id: string;
  readonly sender: SenderName;
  readonly transport: Target['transport'];
  /** Sends the lines through the real tool; resolves once the tool has them (relays keep running). */
  start(target: Target): Promise<RunningSender>;
}

export interface RunningSender {
  send(lines: readonly Buffer[]): Promise<void>;
  stop(): Promise<void>;
}

const which = (cmd: string): string | undefined => {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || undefined : undefined;
};

/** syslog-ng conflicts with rsyslog as a Debian package, so CI unpacks it (see .ci/run). */
export const SYSLOG_NG_UNPACKED = '/opt/syslog-ng-core/usr/sbin/syslog-ng';

/** Where Debian puts rsyslog's modules, whatever the architecture (`/usr/lib/<triplet>/rsyslog`). */
function rsyslogModuleDirs(): string[] {
  const triplets = existsSync('/usr/lib') ? readdirSync('/usr/lib').filter((d) => d.includes('-linux-')) : [];
  return ['/usr/lib/rsyslog', ...triplets.map((t) => join('/usr/lib', t, 'rsyslog'))];
}

export function senderPaths() {
  const sng = process.env.PTIM_SYSLOG_NG ?? (existsSync(SYSLOG_NG_UNPACKED) ? SYSLOG_NG_UNPACKED : which('syslog-ng'));
  return {
    logger: which('logger'),
    rsyslog: which('rsyslogd') ?? (existsSync('/usr/sbin/rsyslogd') ? '/usr/sbin/rsyslogd' : undefined),
    rsyslogGtls: rsyslogModuleDirs().some((d) => existsSync(join(d, 'lmnsd_gtls.so'))),
    syslogNg: sng,
    python: which('python3'),
  };
}

function tempDir(sender: string): string {
  return mkdtempSync(join(tmpdir(), `ptim-${sender}-`));
}

/** Runs a command to completion; rejects with its stderr on a non-zero exit. */
function run(cmd: string, args: readonly string[], input?: Buffer, env?: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err.trim()}`))));
    p.stdin.end(input);
  });
}

/** A relay daemon in the foreground; stop() kills it and waits for its exit. */
async function daemon(cmd: string, args: readonly string[], inputPort: number, dir: string, env?: NodeJS.ProcessEnv) {
  let log = '';
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  let dead = false;
  void exited.then(() => (dead = true));
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const c = connect(inputPort, '127.0.0.1');
      c.on('connect', () => (c.destroy(), resolve(true)));
      c.on('error', () => resolve(false));
    });
  try {
    await waitFor(async () => dead || (await accepts()), { timeoutMs: 15_000, what: `${cmd} to listen on ${inputPort}` });
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  if (dead) throw new Error(`${cmd} exited at start: ${log.trim()}`);
  const stop = async () => {
    if (!dead) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const send = (lines: readonly Buffer[]) =>
    new Promise<void>((resolve, reject) => {
      const c = connect(inputPort, '127.0.0.1', () => {
        c.end(Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
      });
      c.on('error', reject);
      c.on('close', () => resolve());
    });
  return { send, stop };
}

/** What `logger` and Python need to compose the line themselves. */
function parts(line: Buffer) {
  const m = parseSyslog(line);
  return { app: m.appName ?? 'kmd', pid: m.procId ?? '1', message: `${m.msgId ? `${m.msgId}: ` : ''}${m.text}` };
}

// ---- util-linux logger ----

function loggerCase(id: string, transport: 'udp' | 'tcp', args: readonly string[]): SenderCase {
  return {
    id,
    sender: 'logger',
    transport,
    async start(target) {
      const bin = senderPaths().logger!;
      const net = ['-n', '127.0.0.1', '-P', String(target.port), transport === 'udp' ? '-d' : '-T'];
      return {
        async send(lines) {
          for (const line of lines) {
            const p = parts(line);
            await run(bin, [...net, ...args, '-t', p.app, `--id=${p.pid}`, '-p', 'daemon.info', '--', p.message]);
          }
        },
        stop: async () => {},
      };
    },
  };
}

// ---- Python SysLogHandler ----

const PYTHON_SENDER = `
import json, logging, logging.handlers, socket, sys
cfg = json.loads(sys.argv[1])
h = logging.handlers.SysLogHandler(address=('127.0.0.1', cfg['port']),
    socktype=socket.SOCK_STREAM if cfg['tcp'] else socket.SOCK_DGRAM)
h.append_nul = cfg['nul']
log = logging.getLogger('srx'); log.addHandler(h); log.setLevel(logging.INFO); log.propagate = False
for m in json.load(sys.stdin):
    h.ident = m['app'] + '[' + m['pid'] + ']: '
    log.info(m['message'])
h.close()
`;

function pythonCase(id: string, transport: 'udp' | 'tcp', nul: boolean): SenderCase {
  return {
    id,
    sender: 'python',
    transport,
    async start(target) {
      const bin = senderPaths().python!;
      return {
        send: (lines) =>
          run(
            bin,
            ['-c', PYTHON_SENDER, JSON.stringify({ port: target.port, tcp: transport === 'tcp', nul })],
            Buffer.from(JSON.stringify(lines.map(parts))),
          ),
        stop: async () => {},
      };
    },
  };
}

// ---- rsyslog omfwd ----

type RsyslogTemplate = 'RSYSLOG_TraditionalForwardFormat' | 'RSYSLOG_ForwardFormat' | 'RSYSLOG_SyslogProtocol23Format';

function rsyslogCase(id: string, transport: Target['transport'], template: RsyslogTemplate, framing: 'lf' | 'octet'): SenderCase {
  return {
    id,
    sender: 'rsyslog',
    transport,
    async start(target) {
      const dir = tempDir('rsyslog');
      const inputPort = await freePort();
      const tls = transport === 'tls';
      const conf = [
        `global(workDirectory="${dir}"${
          tls ? ` defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="${target.caFile}"` : ''
        })`,
        'module(load="imtcp")',
        `input(type="imtcp" address="127.0.0.1" port="${inputPort}" ruleset="fwd")`,
        'ruleset(name="fwd") {',
        `  action(type="omfwd" target="127.0.0.1" port="${target.port}" protocol="${transport === 'udp' ? 'udp' : 'tcp'}"` +
          ` template="${template}" TCP_Framing="${framing === 'octet' ? 'octet-counted' : 'traditional'}"` +
          (tls
            ? ' StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"'
            : '') +
          ')',
        '}',
      ].join('\n');
      writeFileSync(join(dir, 'rsyslog.conf'), conf);
      return daemon(
        senderPaths().rsyslog!,
        ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')],
        inputPort,
        dir,
      );
    },
  };
}

// ---- syslog-ng ----

function syslogNgCase(id: string, transport: 'udp' | 'tcp', driver: 'network' | 'syslog', noParse = false): SenderCase {
  return {
    id,
    sender: 'syslog-ng',
    transport,
    async start(target) {
      const dir = tempDir('syslog-ng');
      const inputPort = await freePort();
      const bin = senderPaths().syslogNg!;
      const conf = [
        '@version: 3.38',
        'options { keep-hostname(yes); stats-freq(0); };',
        `source s_in { network(ip("127.0.0.1") port(${inputPort}) transport("tcp")${noParse ? ' flags(no-parse)' : ''}); };`,
        `destination d_out { ${driver}("127.0.0.1" port(${target.port}) transport("${transport}")); };`,
        'log { source(s_in); destination(d_out); };',
      ].join('\n');
      writeFileSync(join(dir, 'syslog-ng.conf'), conf);
      // An unpacked package (not installed) finds its libraries and modules beside the binary.
      const prefix = dirname(dirname(bin));
      const libDir = join(prefix, 'lib', 'syslog-ng');
      const moduleDir = existsSync(libDir) ? readdirSync(libDir).find((d) => /^\d+\.\d+$/.test(d)) : undefined;
      const unpacked = prefix !== '/usr' && moduleDir !== undefined;
      const args = [
        '-F',
        '--no-caps',
        '-f',
        join(dir, 'syslog-ng.conf'),
        '-p',
        join(dir, 'syslog-ng.pid'),
        '-R',
        join(dir, 'syslog-ng.persist'),
        '-c',
        join(dir, 'syslog-ng.ctl'),
        ...(unpacked ? [`--module-path=${join(libDir, moduleDir)}`] : []),
      ];
      return daemon(bin, args, inputPort, dir, unpacked ? { LD_LIBRARY_PATH: libDir } : undefined);
    },
  };
}

/** Every sender configuration the conformance suite and the fixture capture drive. */
export const SENDER_CASES: readonly SenderCase[] = [
  loggerCase('logger-rfc3164-udp', 'udp', ['--rfc3164']),
  loggerCase('logger-rfc5424-udp', 'udp', ['--rfc5424']),
  loggerCase('logger-rfc3164-tcp-lf', 'tcp', ['--rfc3164']),
  loggerCase('logger-rfc5424-tcp-lf', 'tcp', ['--rfc5424']),
  loggerCase('logger-rfc3164-tcp-octet', 'tcp', ['--rfc3164', '--octet-count']),
  loggerCase('logger-rfc5424-tcp-octet', 'tcp', ['--rfc5424', '--octet-count']),
  rsyslogCase('rsyslog-omfwd-udp-traditional', 'udp', 'RSYSLOG_TraditionalForwardFormat', 'lf'),
  rsyslogCase('rsyslog-omfwd-udp-rfc5424', 'udp', 'RSYSLOG_SyslogProtocol23Format', 'lf'),
  rsyslogCase('rsyslog-omfwd-tcp-lf-traditional', 'tcp', 'RSYSLOG_TraditionalForwardFormat', 'lf'),
  rsyslogCase('rsyslog-omfwd-tcp-lf-forward', 'tcp', 'RSYSLOG_ForwardFormat', 'lf'),
  rsyslogCase('rsyslog-omfwd-tcp-octet-rfc5424', 'tcp', 'RSYSLOG_SyslogProtocol23Format', 'octet'),
  rsyslogCase('rsyslog-omfwd-tcp-octet-forward', 'tcp', 'RSYSLOG_ForwardFormat', 'octet'),
  rsyslogCase('rsyslog-omfwd-tls-octet-rfc5424', 'tls', 'RSYSLOG_SyslogProtocol23Format', 'octet'),
  rsyslogCase('rsyslog-omfwd-tls-lf-forward', 'tls', 'RSYSLOG_ForwardFormat', 'lf'),
  syslogNgCase('syslog-ng-network-udp', 'udp', 'network'),
  syslogNgCase('syslog-ng-network-tcp', 'tcp', 'network'),
  syslogNgCase('syslog-ng-syslog-udp', 'udp', 'syslog'),
  syslogNgCase('syslog-ng-syslog-tcp', 'tcp', 'syslog'),
  syslogNgCase('syslog-ng-network-udp-no-parse-relay-header', 'udp', 'network', true),
  pythonCase('python-sysloghandler-udp', 'udp', true),
  pythonCase('python-sysloghandler-tcp-nul', 'tcp', true),
  pythonCase('python-sysloghandler-tcp-no-nul', 'tcp', false),
];

/** Whether this machine has the case's tool (the suite runs what is installed; CI installs all). */
export function senderInstalled(c: SenderCase): boolean {
  const p = senderPaths();
  if (c.sender === 'rsyslog') return p.rsyslog !== undefined && (c.transport !== 'tls' || p.rsyslogGtls);
  if (c.sender === 'syslog-ng') return p.syslogNg !== undefined;
  return p[c.sender] !== undefined;
}
