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
import { randomUUID } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP } from 'node:net';
import { once } from 'node:events';
import { z } from 'zod';
import { pushSchema, type PushConfig } from '../config/schema.js';
import { silentLogger, type Logger } from '../log.js';
import { compileTemplates, type CompiledTemplates } from '../jims/templates.js';
import { systemClock, type Clock } from '../types.js';
import { maskBody, maskHeaders, maskQuery } from './mask.js';
import {
  SimIdentityTable,
  emptyCounters,
  type SimCounters,
  type SimIdentity,
  type SimOpLogEntry,
  type SimOperation,
} from './state.js';

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

function formDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

interface TokenCredentials {
  clientId?: string;
  clientSecret?: string;
  grantType?: string;
}

/** Reads client credentials from any of the three styles (json, form, basic). */
export function parseTokenCredentials(headers: IncomingMessage['headers'], body: string): TokenCredentials {
  const out: TokenCredentials = {};
  const ct = (headers['content-type'] ?? '').toLowerCase();
  try {
    if (ct.includes('json')) {
      const v = JSON.parse(body) as Record<string, unknown>;
      if (typeof v.client_id === 'string') out.clientId = v.client_id;
      if (typeof v.client_secret === 'string') out.clientSecret = v.client_secret;
      if (typeof v.grant_type === 'string') out.grantType = v.grant_type;
    } else {
      const q = new URLSearchParams(body);
      const id = q.get('client_id');
      const secret = q.get('client_secret');
      const grant = q.get('grant_type');
      if (id !== null) out.clientId = id;
      if (secret !== null) out.clientSecret = secret;
      if (grant !== null) out.grantType = grant;
    }
  } catch {
    // malformed body: no credentials from it
  }
  const auth = headers.authorization;
  const m = auth ? /^basic\s+(\S+)$/i.exec(auth) : null;
  if (m) {
    const decoded = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
    const idx = decoded.indexOf(':');
    if (idx > 0) {
      try {
        out.clientId = formDecode(decoded.slice(0, idx));
        out.clientSecret = formDecode(decoded.slice(idx + 1));
      } catch {
        // leave credentials unset
      }
    }
  }
  return out;
}

export function createJimsSimulator(opts: JimsSimOptions = {}): JimsSimulator {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const logger = (opts.logger ?? silentLogger).child({ component: 'jims-sim' });
  const push: PushConfig = pushSchema.parse(opts.push ?? {});
  const templates: CompiledTemplates = compileTemplates(push, opts.readFile ?? ((p) => readFileSync(p, 'utf8')));
  const tokenPath = normPath(opts.tokenPath ?? 'oauth_token/oauth');
  const pushPath = normPath(push.path);
  const clients = opts.clients ?? [];
  const requestLogSize = opts.requestLogSize ?? 200;
  const maxBodyBytes = opts.maxBodyBytes ?? 1024 * 1024;

  let counters = emptyCounters();
  let table = new SimIdentityTable(counters);
  let requestLog: SimRequestLogEntry[] = [];
  const tokens = new Map<string, { clientId: string; expiresAt: number }>();
  let faults: JimsSimFaults = { latencyMs: 0, errorRate: 0, offline: false };
  let recordChain: Promise<void> = Promise.resolve();
  const hanging = new Set<ServerResponse>();

  const setFaults = (patch: JimsSimFaultsPatch): JimsSimFaults => {
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
    faults = next;
    return { ...faults };
  };
  if (opts.faults) setFaults(opts.faults);

  const logRequest = (e: SimRequestLogEntry) => {
    requestLog.push(e);
    if (requestLog.length > requestLogSize) requestLog.splice(0, requestLog.length - requestLogSize);
  };

  const send = (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    body: string,
    status: number,
    payload: unknown,
    extra: { headers?: Record<string, string>; clientId?: string; note?: string; log?: boolean } = {},
  ) => {
    const text = payload === undefined ? '' : JSON.stringify(payload);
    res.writeHead(status, { 'content-type': 'application/json', ...(extra.headers ?? {}) });
    res.end(text);
    if (extra.log === false) return;
    const entry: SimRequestLogEntry = {
      at: clock.now(),
      method: req.method ?? '',
      path,
      status,
      headers: maskHeaders(req.headers),
      body: maskBody(body, req.headers['content-type']).slice(0, 4096),
    };
    if (extra.clientId) entry.clientId = extra.clientId;
    if (extra.note) entry.note = extra.note;
    logRequest(entry);
  };

  const issueToken = (clientId: string) => {
    const lifetime = faults.tokenLifetimeSecs ?? opts.tokenLifetimeSecs ?? 28800;
    const now = clock.now();
    if (tokens.size > 10_000) for (const [t, v] of tokens) if (v.expiresAt <= now) tokens.delete(t);
    const token = randomUUID();
    tokens.set(token, { clientId, expiresAt: now + lifetime * 1000 });
    counters.tokens++;
    return { access_token: token, token_type: 'Bearer', expires_in: lifetime };
  };

  const handleToken = (req: IncomingMessage, res: ServerResponse, path: string, body: string) => {
    const cred = parseTokenCredentials(req.headers, body);
    if (cred.grantType !== 'client_credentials') {
      counters.tokenRejects++;
      return send(req, res, path, body, 400, { error: 'unsupported_grant_type' });
    }
    const client = clients.find((c) => c.clientId === cred.clientId && c.clientSecret === cred.clientSecret);
    if (!client) {
      counters.tokenRejects++;
      logger.info({ clientId: cred.clientId }, 'token request with unknown client credentials');
      return send(req, res, path, body, 401, { error: 'invalid_client' }, { headers: { 'www-authenticate': 'Basic' } });
    }
    send(req, res, path, body, 200, issueToken(client.clientId), { clientId: client.clientId });
  };

  const operationOf = (fields: Record<string, string | undefined>, templateKind: string): SimOperation | undefined => {
    const map = push.operationMap;
    if (fields.operation !== undefined) {
      if (fields.operation === map.disconnect) return 'logoff';
      if (fields.operation === map.connect || fields.operation === map.rekey) return 'logon';
      return undefined;
    }
    const kind = fields.event ?? templateKind;
    if (kind === 'disconnect') return 'logoff';
    if (kind === 'connect' || kind === 'rekey') return 'logon';
    return undefined;
  };

  const handlePush = (req: IncomingMessage, res: ServerResponse, path: string, body: string) => {
    const m = /^bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const tok = m ? tokens.get(m[1] ?? '') : undefined;
    if (!tok || tok.expiresAt <= clock.now()) {
      counters.unauthorized++;
      counters.rejects++;
      return send(
        req,
        res,
        path,
        body,
        401,
        { error: 'invalid_token' },
        {
          headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
          note: tok ? 'token expired' : 'no valid token',
        },
      );
    }
    const retryAfter: Record<string, string> = faults.retryAfter ? { 'retry-after': faults.retryAfter } : {};
    if (faults.pushStatus !== undefined) {
      counters.statusInjected++;
      return send(
        req,
        res,
        path,
        body,
        faults.pushStatus,
        { error: 'injected' },
        { headers: retryAfter, clientId: tok.clientId, note: 'injected status' },
      );
    }
    if (faults.errorRate > 0 && random() < faults.errorRate) {
      counters.errorsInjected++;
      return send(
        req,
        res,
        path,
        body,
        503,
        { error: 'injected' },
        { headers: retryAfter, clientId: tok.clientId, note: 'injected error' },
      );
    }
    const parsed = templates.parse(body);
    const f = parsed?.fields ?? {};
    const op = parsed ? operationOf(f, parsed.templateKind) : undefined;
    const ip = f.ip ?? '';
    const user = f.user ?? '';
    if (!parsed || !op || isIP(ip) === 0 || user === '') {
      counters.malformed++;
      counters.rejects++;
      const why = !parsed
        ? 'body does not match the push template'
        : !op
          ? `unknown operation ${JSON.stringify(f.operation)}`
          : isIP(ip) === 0
            ? 'invalid IP'
            : 'empty user';
      return send(req, res, path, body, 400, { error: 'malformed', detail: why }, { clientId: tok.clientId, note: why });
    }
    counters.pushes++;
    const extra: { seq?: string; event?: string; clientId?: string } = { clientId: tok.clientId };
    if (f.seq !== undefined) extra.seq = f.seq;
    if (f.event !== undefined) extra.event = f.event;
    const result = table.apply(op, ip, user, f.domain ?? '', clock.now(), extra);
    send(req, res, path, body, 200, { result, ip }, { clientId: tok.clientId });
  };

  const handleRecord = async (req: IncomingMessage, res: ServerResponse, url: URL, raw: Buffer) => {
    const { text, encoding } = bodyText(raw);
    const masked = encoding === 'utf8' ? maskBody(text, req.headers['content-type']) : text;
    const line = {
      time: new Date(clock.now()).toISOString(),
      method: req.method,
      path: url.pathname,
      query: maskQuery(url.searchParams),
      headers: maskHeaders(req.headers),
      body: masked,
      bodyEncoding: encoding,
      remoteAddress: req.socket.remoteAddress,
    };
    const file = opts.record?.file ?? '';
    // Appends are chained so lines keep arrival order; the answer waits for the line to be written.
    recordChain = recordChain.then(() => appendFile(file, JSON.stringify(line) + '\n'));
    try {
      await recordChain;
    } catch (e) {
      logger.error({ file, err: (e as Error).message }, 'record mode: cannot write the record file');
      recordChain = Promise.resolve();
    }
    counters.recorded++;
    const looksLikeToken = url.pathname === tokenPath || (encoding === 'utf8' && text.includes('grant_type'));
    if (looksLikeToken) {
      const cred = parseTokenCredentials(req.headers, text);
      return send(req, res, url.pathname, text, 200, issueToken(cred.clientId ?? 'recorded'), { note: 'recorded (token)' });
    }
    res.writeHead(200);
    res.end();
    logRequest({
      at: clock.now(),
      method: req.method ?? '',
      path: url.pathname,
      status: 200,
      headers: maskHeaders(req.headers),
      body: masked.slice(0, 4096),
      note: 'recorded',
    });
  };

  const handleSim = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    const quiet = { log: false };
    const route = `${req.method} ${path}`;
    switch (route) {
      case 'GET /_sim/identities': {
        const identities = table.identities();
        return send(req, res, path, '', 200, { count: Object.keys(identities).length, identities }, quiet);
      }
      case 'GET /_sim/operations':
        return send(req, res, path, '', 200, table.operations(), quiet);
      case 'GET /_sim/counters':
        return send(req, res, path, '', 200, counters, quiet);
      case 'GET /_sim/requests':
        return send(req, res, path, '', 200, requestLog, quiet);
      case 'GET /_sim/faults':
        return send(req, res, path, '', 200, faults, quiet);
      case 'POST /_sim/faults': {
        let patch: unknown;
        try {
          patch = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8') || '{}');
        } catch {
          return send(req, res, path, '', 400, { error: 'body must be JSON' }, quiet);
        }
        const parsed = simFaultsPatchSchema.safeParse(patch);
        if (!parsed.success) return send(req, res, path, '', 400, { error: parsed.error.message }, quiet);
        const now = setFaults(parsed.data);
        logger.info({ faults: now }, 'faults changed');
        return send(req, res, path, '', 200, now, quiet);
      }
      case 'POST /_sim/reset':
        reset();
        return send(req, res, path, '', 200, { ok: true }, quiet);
      case 'POST /_sim/revoke-tokens':
        tokens.clear();
        return send(req, res, path, '', 200, { ok: true }, quiet);
      default:
        return send(req, res, path, '', 404, { error: 'not found' }, quiet);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    const path = url.pathname;
    if (path.startsWith('/_sim/')) return handleSim(req, res, path);
    const entryHead = { at: clock.now(), method: req.method ?? '', path, headers: maskHeaders(req.headers), body: '' };
    if (faults.offline === 'refuse') {
      counters.dropped++;
      logRequest({ ...entryHead, status: 'dropped' });
      req.socket.destroy();
      return;
    }
    if (faults.offline === 'hang') {
      counters.hung++;
      logRequest({ ...entryHead, status: 'hung' });
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, maxBodyBytes);
    } catch (e) {
      if (e instanceof BodyTooLarge) return send(req, res, path, '', 413, { error: 'body too large' });
      return;
    }
    if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
    if (opts.record) return handleRecord(req, res, url, raw);
    const body = raw.toString('utf8');
    if (path === tokenPath && req.method === 'POST') return handleToken(req, res, path, body);
    if (path === pushPath && req.method === push.method) return handlePush(req, res, path, body);
    send(req, res, path, body, 404, { error: 'not found' });
  };

  const server: Server = opts.tls
    ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, (req, res) => void handleSafely(req, res))
    : createHttpServer((req, res) => void handleSafely(req, res));
  // Clients that reject our certificate show up here; that is their business, not a crash.
  server.on('tlsClientError', () => {});
  server.on('clientError', (_e, socket) => socket.destroy());

  async function handleSafely(req: IncomingMessage, res: ServerResponse) {
    try {
      await handle(req, res);
    } catch (e) {
      logger.error({ err: (e as Error).message }, 'simulator request failed');
      if (!res.headersSent) {
        res.writeHead(500);
        res.end();
      }
    }
  }

  function reset() {
    counters = emptyCounters();
    table = new SimIdentityTable(counters);
    requestLog = [];
  }

  return {
    async listen(port, host = '127.0.0.1') {
      server.listen(port, host);
      await once(server, 'listening');
      const addr = server.address();
      const actual = addr && typeof addr === 'object' ? addr.port : port;
      const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
      const url = `${opts.tls ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${actual}`;
      logger.info({ url, record: opts.record?.file, tokenPath, pushPath, template: push.template }, 'JIMS simulator listening');
      return { port: actual, url };
    },
    async close() {
      for (const res of hanging) res.destroy();
      const closed = server.listening ? once(server, 'close') : Promise.resolve();
      server.close();
      server.closeAllConnections();
      await closed;
      await recordChain.catch(() => {});
    },
    setFaults,
    faults: () => ({ ...faults }),
    identities: () => table.identities(),
    operations: () => table.operations(),
    counters: () => ({ ...counters }),
    requests: () => requestLog,
    revokeTokens: () => tokens.clear(),
    reset,
  };
}
