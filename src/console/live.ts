// Live session updates for the console over Server-Sent Events. One Redis subscriber per console
// (opened with the first viewer, closed with the last) listens to the decisions the history
// recorders publish from every bridge process, and fans them out to the open event streams.
import type { ServerResponse } from 'node:http';
import type { RedisClient } from '../redis/connection.js';
import { SECURITY_HEADERS } from './http.js';

export const MAX_STREAMS = 50;
const HEARTBEAT_MS = 15_000;

export interface LiveHub {
  /** Takes over `res` as an event stream; false (and nothing written) when MAX_STREAMS are open. */
  attach(res: ServerResponse): Promise<boolean>;
  readonly streams: number;
  close(): Promise<void>;
}

export function createLiveHub(deps: { subscriber: () => RedisClient; channel: string }): LiveHub {
  const streams = new Set<ServerResponse>();
  let sub: RedisClient | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  const broadcast = (data: string) => {
    for (const res of streams) res.write(`event: decisions\ndata: ${data}\n\n`);
  };
  const open = async () => {
    if (sub) return;
    sub = deps.subscriber();
    sub.on('message', (_ch: string, msg: string) => broadcast(msg));
    await sub.subscribe(deps.channel);
    heartbeat = setInterval(() => {
      for (const res of streams) res.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    heartbeat.unref();
  };
  const shut = async () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
    const s = sub;
    sub = undefined;
    if (s) await s.quit().catch(() => s.disconnect());
  };

  return {
    get streams() {
      return streams.size;
    },
    async attach(res) {
      if (streams.size >= MAX_STREAMS) return false;
      streams.add(res);
      res.on('close', () => {
        streams.delete(res);
        if (streams.size === 0) void shut();
      });
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write('retry: 5000\n\n');
      await open();
      res.write('event: ready\ndata: {}\n\n');
      return true;
    },
    async close() {
      for (const res of streams) res.end();
      streams.clear();
      await shut();
    },
  };
}
