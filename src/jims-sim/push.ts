// What a push body asks the simulated JIMS to do: every entry of the body (one, or many when the
// template carries a list), each an operation on one IP. A body is taken whole or refused whole,
// so one bad entry never leaves half a request applied. Pure.
import { isIP } from 'node:net';
import type { PushConfig } from '../config/schema.js';
import type { CompiledTemplates, ParsedBody } from '../jims/templates.js';
import type { SimOperation } from './state.js';

export interface SimPushEntry {
  readonly op: SimOperation;
  readonly ip: string;
  readonly user: string;
  readonly domain: string;
  readonly seq?: string;
  readonly event?: string;
}

/** logon/logoff from the entry's operation (mapped back through operationMap), else from its event or template kind. */
export function operationOf(parsed: ParsedBody, operationMap: PushConfig['operationMap']): SimOperation | undefined {
  const f = parsed.fields;
  if (f.operation !== undefined) {
    if (f.operation === operationMap.disconnect) return 'logoff';
    if (f.operation === operationMap.connect || f.operation === operationMap.rekey) return 'logon';
    return undefined;
  }
  const kind = f.event ?? parsed.templateKind;
  if (kind === 'disconnect') return 'logoff';
  if (kind === 'connect' || kind === 'rekey') return 'logon';
  return undefined;
}

function readEntry(parsed: ParsedBody, operationMap: PushConfig['operationMap']): SimPushEntry | string {
  const f = parsed.fields;
  const op = operationOf(parsed, operationMap);
  const ip = f.ip ?? '';
  const user = f.user ?? '';
  if (!op) return `unknown operation ${JSON.stringify(f.operation)}`;
  if (isIP(ip) === 0) return 'invalid IP';
  if (user === '') return 'empty user';
  return {
    op,
    ip,
    user,
    domain: f.domain ?? '',
    ...(f.seq !== undefined && { seq: f.seq }),
    ...(f.event !== undefined && { event: f.event }),
  };
}

/** The entries of a push body, or why it is refused (the first bad entry, numbered from 1 when there are several). */
export function readPushBody(
  body: string,
  templates: CompiledTemplates,
  operationMap: PushConfig['operationMap'],
): { entries: SimPushEntry[] } | { why: string } {
  const parsed = templates.parseEntries(body);
  if (!parsed) return { why: 'body does not match the push template' };
  const entries: SimPushEntry[] = [];
  for (const [i, p] of parsed.entries()) {
    const e = readEntry(p, operationMap);
    if (typeof e === 'string') return { why: parsed.length > 1 ? `entry ${i + 1}: ${e}` : e };
    entries.push(e);
  }
  return { entries };
}
