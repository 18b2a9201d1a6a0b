// The admin HTTP server: liveness, readiness (each check named, so an operator sees *which*
// dependency is missing), Prometheus metrics and, when configured, the operator console under
// /console/. Plain HTTP or HTTPS. Listening is separate from building it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { PtimError } from '../errors.js';
import { listening } from '../net/listening.js';

export interface ReadinessCheck {
  readonly name: string;
  /** Required checks decide readiness; the others are reported only (e.g. JIMS reachability). */
  readonly required: boolean;
  check(): Promise<{ ok: boolean; detail?: string }> | { ok: boolean; detail?: string };
}

/** The console (src/console), mounted by path; the ops server knows nothing else of it. */
export interface ConsoleHandler {
  handles(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse): void;
  start(): void;
  close(): Promise<void>;
}

export interface OpsServer {
  listen(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
  readonly server: Server;
}

export async function runChecks(checks: readonly ReadinessCheck[]) {
  const results = await Promise.all(
    checks.map(async (c) => {
      try {
        const r = await c.check();
        return { name: c.name, required: c.required, ok: r.ok, detail: r.detail };
      } catch (e) {
        return { name: c.name, required: c.required, ok: false, detail: (e as Error).message };
      }
    }),
  );
  return { ready: results.every((r) => r.ok || !r.required), checks: results };
}

export function createOpsServer(deps: {
  /** The registry to expose, gathered per scrape (the main thread's merged with every thread's). */
  registry: () => Promise<Registry>;
  checks: () => readonly ReadinessCheck[];
  /** Settles batched counters and refreshes gauges (e.g. readiness) before a scrape. */
  beforeScrape?: () => void | Promise<void>;
  console?: ConsoleHandler;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: Buffer; key: Buffer };
}): OpsServer {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = (req.url ?? '/').split('?')[0] ?? '/';
    if (deps.console?.handles(url)) return deps.console.handle(req, res);
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, JSON.stringify({ error: 'method not allowed' }));
    if (url === '/healthz') return send(200, JSON.stringify({ status: 'ok' }));
    if (url === '/readyz') {
      runChecks(deps.checks()).then(
        (r) => send(r.ready ? 200 : 503, JSON.stringify({ status: r.ready ? 'ready' : 'not ready', checks: r.checks })),
        (e: Error) => send(500, JSON.stringify({ error: e.message })),
      );
      return;
    }
    if (url === '/metrics') {
      Promise.resolve()
        .then(() => deps.beforeScrape?.())
        .then(() => deps.registry())
        .then(async (registry) => send(200, await registry.metrics(), registry.contentType))
        .catch((e: Error) => send(500, e.message, 'text/plain'));
      return;
    }
    if (url === '/' && deps.console) {
      res.writeHead(303, { location: '/console/' });
      return res.end();
    }
    const endpoints = ['/healthz', '/readyz', '/metrics', ...(deps.console ? ['/console/'] : [])];
    send(404, JSON.stringify({ error: 'not found', endpoints }));
  };
  const server: Server = deps.tls
    ? (createHttpsServer({ cert: deps.tls.cert, key: deps.tls.key, minVersion: 'TLSv1.2' }, handler) as unknown as Server)
    : createServer(handler);
  server.keepAliveTimeout = 5000;
  return {
    server,
    async listen(port, host) {
      try {
        await listening(server, () => server.listen(port, host));
      } catch (e) {
        throw new PtimError('PTIM_ERR_BIND', `cannot listen on ops ${host} port ${port}: ${(e as Error).message}`, [
          { path: 'ops.port', message: 'choose a free port, or ops.enabled: false' },
        ]);
      }
      return server.address() as AddressInfo;
    },
    async close() {
      await deps.console?.close();
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
