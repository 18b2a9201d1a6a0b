// A JIMS stand-in that ships with the product: issues OAuth2 tokens, applies pushes rendered with
// the same template settings as the bridge to an identity table, injects faults on demand, and in
// record mode captures whatever a real 24.4R1+ firewall sends so operators can learn the PTIM format.
//
// Inspection and control live under /_sim/ (JSON): GET identities, operations, counters, requests,
// faults; POST faults (a partial JimsSimFaults; null clears an optional one), reset, revoke-tokens.
// /_sim/ keeps answering in both offline modes: "offline" applies to the token and push endpoints
// (and to everything in record mode), because a listener that refuses connections could not be
// switched back over HTTP. 'refuse' destroys the connection as soon as the request head arrives
// (the client sees ECONNRESET / "socket hang up"); 'hang' never answers (the client times out).
//
// A push body may carry many entries (templates with `{{#entries}}`): the simulator applies them
// in order, or refuses the whole body when one entry is bad. Record mode notes how many entries a
// body in the configured template's shape holds.
//
// Parts: `SimState` (what the simulator holds), one handler per endpoint family (`handleToken`,
// `handlePush`, `handleRecord`, `handleControl`), `route` and `createJimsSimulator`.
import { appendFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { once } from 'node:events';
import { z } from 'zod';
import { pushSchema, type PushConfig } from '../config/schema.js';
import { silentLogger, type Logger } from '../log.js';
import { compileTemplates, type CompiledTemplates } from '../jims/templates.js';
import { systemClock, type Clock } from '../types.js';
import { maskBody, maskHeaders, maskQuery } from './mask.js';
import { SimIdentityTable, emptyCounters, type SimCounters, type SimIdentity, type SimOpLogEntry } from './state.js';
import { readPushBody } from './push.js';
import { parseTokenCredentials, SimTokens } from './tokens.js';

export { parseTokenCredentials } from './tokens.js';

export interface JimsSimFaults {
  /** Added before answering token and push requests. */
  latencyMs: number;
  /** Fraction (0..1) of push requests answered 503. */
  errorRate: number;
  offline: false | 'refuse' | 'hang';
  /** Overrides the token lifetime of newly issued tokens. */
  tokenLifetimeSecs?: number;
  /** Answer every authorized push with this status instead of applying it (e.g. 400, 401, 429). */
  pushStatus?: number;
  /** Retry-After header sent with pushStatus / injected errors. */
  retryAfter?: string;
}

export const simFaultsPatchSchema = z
  .object({
    latencyMs: z.number().min(0).max(600_000),
    errorRate: z.number().min(0).max(1),
    offline: z.union([z.literal(false), z.literal('refuse'), z.literal('hang')]),
    tokenLifetimeSecs: z.number().positive().nullable(),
    pushStatus: z.number().int().min(100).max(599).nullable(),
    retryAfter: z.string().nullable(),
  })
  .partial()
  .strict();
export type JimsSimFaultsPatch = z.input<typeof simFaultsPatchSchema>;

export interface JimsSimClient {
  clientId: string;
  clientSecret: string;
}

export interface JimsSimOptions {
  clients?: readonly JimsSimClient[];
  /** Default `oauth_token/oauth`, as the bridge. */
  tokenPath?: string;
  /** The bridge's `jims.push` settings (path, method, template(s), operationMap…); defaults as the bridge. */
  push?: z.input<typeof pushSchema>;
  /** Default 28800 s, JIMS's per-client default. */
  tokenLifetimeSecs?: number;
  /** Record mode: every request is appended to this file as a JSON line, secrets masked. */
  record?: { file: string };
  faults?: JimsSimFaultsPatch;
  /** HTTPS when given. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  clock?: Clock;
  /** Decides injected errors; inject a seeded one for repeatable runs. */
  random?: () => number;
  logger?: Logger;
  readFile?: (path: string) => string;
  requestLogSize?: number;
  maxBodyBytes?: number;
}

export interface SimRequestLogEntry {
  at: number;
  method: string;
  path: string;
  status: number | 'dropped' | 'hung';
  clientId?: string;
  headers: Record<string, string | string[]>;
  body: string;
  note?: string;
}

export interface JimsSimulator {
  listen(port: number, host?: string): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
  setFaults(patch: JimsSimFaultsPatch): JimsSimFaults;
  faults(): JimsSimFaults;
  identities(): Record<string, SimIdentity>;
  operations(): readonly SimOpLogEntry[];
  counters(): SimCounters;
  requests(): readonly SimRequestLogEntry[];
  /** Every issued token becomes invalid (the next push gets 401). */
  revokeTokens(): void;
  /** Clears identities, operations, counters and the request log (tokens stay valid). */
  reset(): void;
}

const normPath = (p: string) => '/' + p.replace(/^\/+/, '');

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) throw new BodyTooLarge();
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

function bodyText(buf: Buffer): { text: string; encoding: 'utf8' | 'base64' } {
  const text = buf.toString('utf8');
  return Buffer.from(text, 'utf8').equals(buf)
    ? { text, encoding: 'utf8' }
    : { text: buf.toString('base64'), encoding: 'base64' };
}

/** A faults patch applied to the current faults (null clears an optional one). */
export function patchFaults(faults: JimsSimFaults, patch: JimsSimFaultsPatch): JimsSimFaults {
  const p = simFaultsPatchSchema.parse(patch);
  const next: JimsSimFaults = { ...faults };
  if (p.latencyMs !== undefined) next.latencyMs = p.latencyMs;
  if (p.errorRate !== undefined) next.errorRate = p.errorRate;
  if (p.offline !== undefined) next.offline = p.offline;
  for (const k of ['tokenLifetimeSecs', 'pushStatus', 'retryAfter'] as const) {
    const v = p[k];
    if (v === null) delete next[k];
    else if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
  }
  return next;
}

/** Everything the simulator holds, and its settings. */
class SimState {
  counters: SimCounters = emptyCounters();
  table = new SimIdentityTable(this.counters);
  requestLog: SimRequestLogEntry[] = [];
  readonly tokens = new SimTokens();
  faults: JimsSimFaults = { latencyMs: 0, errorRate: 0, offline: false };
  recordChain: Promise<void> = Promise.resolve();
  readonly hanging = new Set<ServerResponse>();
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly push: PushConfig;
  readonly templates: CompiledTemplates;
  readonly tokenPath: string;
  readonly pushPath: string;

  constructor(readonly opts: JimsSimOptions) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.logger = (opts.logger ?? silentLogger).child({ component: 'jims-sim' });
    this.push = pushSchema.parse(opts.push ?? {});
    this.templates = compileTemplates(this.push, opts.readFile ?? ((p) => readFileSync(p, 'utf8')));
    this.tokenPath = normPath(opts.tokenPath ?? 'oauth_token/oauth');
    this.pushPath = normPath(this.push.path);
    if (opts.faults) this.setFaults(opts.faults);
  }

  setFaults(patch: JimsSimFaultsPatch): JimsSimFaults {
    this.faults = patchFaults(this.faults, patch);
    return { ...this.faults };
  }

  logRequest(e: SimRequestLogEntry): void {
    const size = this.opts.requestLogSize ?? 200;
    this.requestLog.push(e);
    if (this.requestLog.length > size) this.requestLog.splice(0, this.requestLog.length - size);
  }

  issueToken(clientId: string) {
    this.counters.tokens++;
    return this.tokens.issue(clientId, this.faults.tokenLifetimeSecs ?? this.opts.tokenLifetimeSecs ?? 28800, this.clock.now());
  }

  reset(): void {
    this.counters = emptyCounters();
    this.table = new SimIdentityTable(this.counters);
    this.requestLog = [];
  }
}

interface SendExtra {
  headers?: Record<string, string>;
  clientId?: string;
  note?: string;
  log?: boolean;
}

/** Answers with a JSON payload and logs the request (unless `log: false`), secrets masked. */
function send(
  st: SimState,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  body: string,
  status: number,
  payload: unknown,
  extra: SendExtra = {},
) {
  const text = payload === undefined ? '' : JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', ...(extra.headers ?? {}) });
  res.end(text);
  if (extra.log === false) return;
  const entry: SimRequestLogEntry = {
    at: st.clock.now(),
    method: req.method ?? '',
    path,
    status,
    headers: maskHeaders(req.headers),
    body: maskBody(body, req.headers['content-type']).slice(0, 4096),
  };
  if (extra.clientId) entry.clientId = extra.clientId;
  if (extra.note) entry.note = extra.note;
  st.logRequest(entry);
}

function handleToken(st: SimState, req: IncomingMessage, res: ServerResponse, path: string, body: string) {
  const cred = parseTokenCredentials(req.headers, body);
  if (cred.grantType !== 'client_credentials') {
    st.counters.tokenRejects++;
    return send(st, req, res, path, body, 400, { error: 'unsupported_grant_type' });
  }
  const client = (st.opts.clients ?? []).find((c) => c.clientId === cred.clientId && c.clientSecret === cred.clientSecret);
  if (!client) {
    st.counters.tokenRejects++;
    st.logger.info({ clientId: cred.clientId }, 'token request with unknown client credentials');
    return send(st, req, res, path, body, 401, { error: 'invalid_client' }, { headers: { 'www-authenticate': 'Basic' } });
  }
  send(st, req, res, path, body, 200, st.issueToken(client.clientId), { clientId: client.clientId });
}

/** Answers a push that an injected fault decides (status or error rate); false when none applies. */
function injectedFault(
  st: SimState,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  body: string,
  clientId: string,
): boolean {
  const headers: Record<string, string> = st.faults.retryAfter ? { 'retry-after': st.faults.retryAfter } : {};
  if (st.faults.pushStatus !== undefined) {
    st.counters.statusInjected++;
    send(st, req, res, path, body, st.faults.pushStatus, { error: 'injected' }, { headers, clientId, note: 'injected status' });
    return true;
  }
  if (st.faults.errorRate > 0 && st.random() < st.faults.errorRate) {
    st.counters.errorsInjected++;
    send(st, req, res, path, body, 503, { error: 'injected' }, { headers, clientId, note: 'injected error' });
    return true;
  }
  return false;
}

function handlePush(st: SimState, req: IncomingMessage, res: ServerResponse, path: string, body: string) {
  const auth = st.tokens.check(req.headers.authorization, st.clock.now());
  if ('note' in auth) {
    st.counters.unauthorized++;
    st.counters.rejects++;
    const headers = { 'www-authenticate': 'Bearer error="invalid_token"' };
    return send(st, req, res, path, body, 401, { error: 'invalid_token' }, { headers, note: auth.note });
  }
  const { clientId } = auth;
  if (injectedFault(st, req, res, path, body, clientId)) return;
  const read = readPushBody(body, st.templates, st.push.operationMap);
  if ('why' in read) {
    st.counters.malformed++;
    st.counters.rejects++;
    return send(st, req, res, path, body, 400, { error: 'malformed', detail: read.why }, { clientId, note: read.why });
  }
  st.counters.pushRequests++;
  const results = read.entries.map((e) => {
    st.counters.pushes++;
    const extra = { clientId, ...(e.seq !== undefined && { seq: e.seq }), ...(e.event !== undefined && { event: e.event }) };
    return { result: st.table.apply(e.op, e.ip, e.user, e.domain, st.clock.now(), extra), ip: e.ip };
  });
  const payload = results.length === 1 ? results[0] : { results };
  send(st, req, res, path, body, 200, payload, { clientId, ...(results.length > 1 && { note: `${results.length} entries` }) });
}

async function handleRecord(st: SimState, req: IncomingMessage, res: ServerResponse, url: URL, raw: Buffer) {
  const { text, encoding } = bodyText(raw);
  const masked = encoding === 'utf8' ? maskBody(text, req.headers['content-type']) : text;
  // A body in the configured push template's shape: how many entries it carries (a firewall may batch).
  const entries = encoding === 'utf8' ? st.templates.parseEntries(text)?.length : undefined;
  const line = {
    time: new Date(st.clock.now()).toISOString(),
    method: req.method,
    path: url.pathname,
    query: maskQuery(url.searchParams),
    headers: maskHeaders(req.headers),
    body: masked,
    bodyEncoding: encoding,
    ...(entries !== undefined && { entries }),
    remoteAddress: req.socket.remoteAddress,
  };
  const file = st.opts.record?.file ?? '';
  // Appends are chained so lines keep arrival order; the answer waits for the line to be written.
  st.recordChain = st.recordChain.then(() => appendFile(file, JSON.stringify(line) + '\n'));
  try {
    await st.recordChain;
  } catch (e) {
    st.logger.error({ file, err: e }, 'record mode: cannot write the record file');
    st.recordChain = Promise.resolve();
  }
  st.counters.recorded++;
  const looksLikeToken = url.pathname === st.tokenPath || (encoding === 'utf8' && text.includes('grant_type'));
  if (looksLikeToken) {
    const cred = parseTokenCredentials(req.headers, text);
    return send(st, req, res, url.pathname, text, 200, st.issueToken(cred.clientId ?? 'recorded'), { note: 'recorded (token)' });
  }
  res.writeHead(200);
  res.end();
  const note = entries !== undefined ? `recorded (${entries} ${entries === 1 ? 'entry' : 'entries'})` : 'recorded';
  st.logRequest({
    at: st.clock.now(),
    method: req.method ?? '',
    path: url.pathname,
    status: 200,
    headers: maskHeaders(req.headers),
    body: masked.slice(0, 4096),
    note,
  });
}

/** The /_sim/ inspection and control routes. */
async function handleControl(st: SimState, req: IncomingMessage, res: ServerResponse, path: string) {
  const answer = (status: number, payload: unknown) => send(st, req, res, path, '', status, payload, { log: false });
  switch (`${req.method} ${path}`) {
    case 'GET /_sim/identities': {
      const identities = st.table.identities();
      return answer(200, { count: Object.keys(identities).length, identities });
    }
    case 'GET /_sim/operations':
      return answer(200, st.table.operations());
    case 'GET /_sim/counters':
      return answer(200, st.counters);
    case 'GET /_sim/requests':
      return answer(200, st.requestLog);
    case 'GET /_sim/faults':
      return answer(200, st.faults);
    case 'POST /_sim/faults': {
      let patch: unknown;
      try {
        patch = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8') || '{}');
      } catch {
        return answer(400, { error: 'body must be JSON' });
      }
      const parsed = simFaultsPatchSchema.safeParse(patch);
      if (!parsed.success) return answer(400, { error: parsed.error.message });
      const now = st.setFaults(parsed.data);
      st.logger.info({ faults: now }, 'faults changed');
      return answer(200, now);
    }
    case 'POST /_sim/reset':
      st.reset();
      return answer(200, { ok: true });
    case 'POST /_sim/revoke-tokens':
      st.tokens.clear();
      return answer(200, { ok: true });
    default:
      return answer(404, { error: 'not found' });
  }
}

/** Offline modes first (they apply to everything but /_sim/), then the body, then the endpoint. */
async function route(st: SimState, req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://sim.invalid');
  const path = url.pathname;
  if (path.startsWith('/_sim/')) return handleControl(st, req, res, path);
  const entryHead = { at: st.clock.now(), method: req.method ?? '', path, headers: maskHeaders(req.headers), body: '' };
  if (st.faults.offline === 'refuse') {
    st.counters.dropped++;
    st.logRequest({ ...entryHead, status: 'dropped' });
    req.socket.destroy();
    return;
  }
  if (st.faults.offline === 'hang') {
    st.counters.hung++;
    st.logRequest({ ...entryHead, status: 'hung' });
    st.hanging.add(res);
    res.on('close', () => st.hanging.delete(res));
    return;
  }
  let raw: Buffer;
  try {
    raw = await readBody(req, st.opts.maxBodyBytes ?? 1024 * 1024);
  } catch (e) {
    if (e instanceof BodyTooLarge) return send(st, req, res, path, '', 413, { error: 'body too large' });
    return;
  }
  if (st.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, st.faults.latencyMs));
  if (st.opts.record) return handleRecord(st, req, res, url, raw);
  const body = raw.toString('utf8');
  if (path === st.tokenPath && req.method === 'POST') return handleToken(st, req, res, path, body);
  if (path === st.pushPath && req.method === st.push.method) return handlePush(st, req, res, path, body);
  send(st, req, res, path, body, 404, { error: 'not found' });
}

export function createJimsSimulator(opts: JimsSimOptions = {}): JimsSimulator {
  const st = new SimState(opts);
  const handleSafely = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      await route(st, req, res);
    } catch (e) {
      st.logger.error({ err: e }, 'simulator request failed');
      if (!res.headersSent) {
        res.writeHead(500);
        res.end();
      }
    }
  };
  const server: Server = opts.tls
    ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, (req, res) => void handleSafely(req, res))
    : createHttpServer((req, res) => void handleSafely(req, res));
  // Clients that reject our certificate show up here; that is their business, not a crash.
  server.on('tlsClientError', () => {});
  server.on('clientError', (_e, socket) => socket.destroy());

  return {
    async listen(port, host = '127.0.0.1') {
      server.listen(port, host);
      await once(server, 'listening');
      const addr = server.address();
      const actual = addr && typeof addr === 'object' ? addr.port : port;
      const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
      const url = `${opts.tls ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${actual}`;
      const { tokenPath, pushPath } = st;
      st.logger.info(
        { url, record: opts.record?.file, tokenPath, pushPath, template: st.push.template },
        'JIMS simulator listening',
      );
      return { port: actual, url };
    },
    async close() {
      for (const res of st.hanging) res.destroy();
      const closed = server.listening ? once(server, 'close') : Promise.resolve();
      server.close();
      server.closeAllConnections();
      await closed;
      await st.recordChain.catch(() => {});
    },
    setFaults: (patch) => st.setFaults(patch),
    faults: () => ({ ...st.faults }),
    identities: () => st.table.identities(),
    operations: () => st.table.operations(),
    counters: () => ({ ...st.counters }),
    requests: () => st.requestLog,
    revokeTokens: () => st.tokens.clear(),
    reset: () => st.reset(),
  };
}
