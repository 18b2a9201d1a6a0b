// The production transition table: one atomic Lua script per (event, IP) that reads the IP's
// state, decides, bumps its seq, writes the new state and appends the emitted events to the
// outbox stream in the same step, so replicas classify consistently and nothing decided is lost.
// It mirrors spec.ts row for row (the property test holds them together). Deterministic: time
// and settings come in ARGV (no TIME), and it touches only KEYS (Redis Cluster: one hash tag).
// Kept as a TS string, not a .lua file, because tsc does not copy non-TS files into dist.
import type { Redis, ChainableCommander } from 'ioredis';
import { keyspace } from '../redis/keys.js';
import type { EpochMs, IdentityEvent } from '../types.js';
import { DECISIONS, type Decision, type SessionInput, type SessionRules } from './spec.js';

export const SESSION_SCRIPT = String.raw`
local sKey, tKey, idxKey, seqKey, outKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local op, ipk = ARGV[1], ARGV[2]
local line = { ip = ARGV[3], user = ARGV[4], domain = ARGV[5], firewall = ARGV[6],
  vpn = ARGV[7], gateway = ARGV[8], peerIp = ARGV[9] }
local tunnelId = ARGV[10]
local receivedAt = tonumber(ARGV[11])
local now = tonumber(ARGV[12])
local corr = ARGV[13]
local windowMs = tonumber(ARGV[14])
local idleMs = tonumber(ARGV[15])
local forwardOrphan = ARGV[16] == '1'
local journal, journalId = ARGV[17], ARGV[18]

local function opt(v) if v == nil or v == '' or v == false then return nil end return v end

local emitted = {}
local function emit(kind, who, recvAt, reason)
  local seq = redis.call('HINCRBY', seqKey, ipk, 1)
  local ev = { kind = kind, ip = who.ip, user = who.user, domain = who.domain, seq = seq,
    firewall = who.firewall, vpn = opt(who.vpn), gateway = opt(who.gateway), peerIp = opt(who.peerIp),
    reason = reason, at = now, receivedAt = recvAt, correlationId = corr }
  local json = cjson.encode(ev)
  redis.call('XADD', outKey, '*', 'ipKey', ipk, 'event', json)
  emitted[#emitted + 1] = json
end

local function load()
  local flat = redis.call('HGETALL', sKey)
  if #flat == 0 then return nil end
  local s = {}
  for i = 1, #flat, 2 do s[flat[i]] = flat[i + 1] end
  s.lastUpAt = tonumber(s.lastUpAt)
  return s
end

local function setOpt(fields, name, v)
  v = opt(v)
  if v then fields[#fields + 1] = name; fields[#fields + 1] = v end
end

local function endSession()
  redis.call('DEL', sKey, tKey)
  redis.call('ZREM', idxKey, ipk)
end

local function addTunnel()
  if opt(tunnelId) then redis.call('SADD', tKey, tunnelId) end
end

local function startSession()
  endSession()
  local f = { 'ip', line.ip, 'user', line.user, 'domain', line.domain, 'firewall', line.firewall,
    'connectedAt', receivedAt, 'lastUpAt', receivedAt, 'lastEventAt', receivedAt }
  setOpt(f, 'vpn', line.vpn); setOpt(f, 'gateway', line.gateway); setOpt(f, 'peerIp', line.peerIp)
  redis.call('HSET', sKey, unpack(f))
  addTunnel()
  redis.call('ZADD', idxKey, receivedAt, ipk)
end

local function refresh(s)
  addTunnel()
  if receivedAt - s.lastUpAt <= windowMs then
    redis.call('HSET', sKey, 'lastEventAt', receivedAt)
    return 'suppressed'
  end
  local f = { 'firewall', line.firewall, 'lastUpAt', receivedAt, 'lastRekeyAt', receivedAt, 'lastEventAt', receivedAt }
  setOpt(f, 'vpn', line.vpn); setOpt(f, 'gateway', line.gateway); setOpt(f, 'peerIp', line.peerIp)
  redis.call('HSET', sKey, unpack(f))
  redis.call('ZADD', idxKey, receivedAt, ipk)
  emit('rekey', load(), receivedAt, nil)
  return 'rekey'
end

local function run()
  local s = load()
  if op == 'expire' then
    -- An index entry without a session cannot be expired: drop it so the sweeper does not spin on it.
    if not s then redis.call('ZREM', idxKey, ipk); return 'expire_skipped' end
    if not (s.lastUpAt < now - idleMs) then return 'expire_skipped' end
    emit('disconnect', s, now, 'expired')
    endSession()
    return 'expired'
  end
  local same = s and s.user == line.user and s.domain == line.domain
  if op == 'up' then
    if not s then
      startSession()
      emit('connect', line, receivedAt, nil)
      return 'connect'
    end
    if same then return refresh(s) end
    emit('disconnect', s, receivedAt, 'replaced')
    startSession()
    emit('connect', line, receivedAt, nil)
    return 'replaced'
  elseif op == 'rekey-signal' then
    if not s then return 'rekey_no_session' end
    if line.user ~= '' and not same then return 'stale_rekey' end
    return refresh(s)
  elseif op == 'down' then
    if not s then
      if not forwardOrphan then return 'orphan_down_ignored' end
      emit('disconnect', line, receivedAt, 'orphan-down')
      return 'orphan_down'
    end
    if not same then return 'stale_down' end
    if opt(tunnelId) then
      redis.call('SREM', tKey, tunnelId)
      if redis.call('SCARD', tKey) > 0 then
        redis.call('HSET', sKey, 'lastEventAt', receivedAt)
        return 'tunnel_down'
      end
    end
    emit('disconnect', s, receivedAt, 'down')
    endSession()
    return 'disconnect'
  end
  return redis.error_reply('ptim: unknown op ' .. tostring(op))
end

-- A journal replay after a crash re-sends events Redis may already have applied: each journal
-- (instance) leaves, per IP, the last id it applied beside the IP's seq, and an id at or below it
-- is the same event again. Ids only grow within an instance, and events of one IP come in order.
local function replayed()
  if op == 'expire' or not journalId or journalId == '' then return false end
  local field = ipk .. '#j:' .. journal
  local last = redis.call('HGET', seqKey, field)
  if last and tonumber(last) >= tonumber(journalId) then return true end
  redis.call('HSET', seqKey, field, journalId)
  return false
end

local decision
if replayed() then decision = 'replayed' else decision = run() end
if type(decision) == 'table' then return decision end
local seq = tonumber(redis.call('HGET', seqKey, ipk) or 0)
local reply = { decision, seq, redis.call('ZCARD', idxKey) }
for i = 1, #emitted do reply[#reply + 1] = emitted[i] end
return reply
`;

/** ioredis command name the script is registered under (EVALSHA with EVAL fallback). */
export const SESSION_COMMAND = 'ptimSession';

type ScriptFn = (...args: string[]) => Promise<unknown>;

/** Registers the script on a client (idempotent). */
export function defineSessionScript(redis: Redis): void {
  if (typeof (redis as unknown as Record<string, unknown>)[SESSION_COMMAND] === 'function') return;
  redis.defineCommand(SESSION_COMMAND, { numberOfKeys: 5, lua: SESSION_SCRIPT });
}

/** KEYS + ARGV for one call. `ipKey` is `ipKey(ip, scope)` from redis/keys.ts. */
export function scriptArgs(keyPrefix: string, key: string, input: SessionInput, cfg: SessionRules, now: EpochMs): string[] {
  const ks = keyspace(keyPrefix);
  const keys = [ks.session(key), ks.tunnels(key), ks.sessionIndex, ks.seqs, ks.outbox];
  const l = input.kind === 'expire' ? undefined : input;
  const argv = [
    input.kind,
    key,
    l?.ip ?? '',
    l?.user ?? '',
    l?.domain ?? '',
    l?.firewall ?? '',
    l?.vpn ?? '',
    l?.gateway ?? '',
    l?.peerIp ?? '',
    l?.tunnelId ?? '',
    // Integers only: Lua formats numbers with 14 significant digits.
    String(Math.floor(l?.receivedAt ?? now)),
    String(Math.floor(now)),
    input.correlationId,
    String(cfg.duplicateWindowSecs * 1000),
    String(cfg.sessionIdleSecs * 1000),
    cfg.forwardOrphanDown ? '1' : '0',
    l?.journal?.instance ?? '',
    l?.journal ? String(l.journal.id) : '',
  ];
  return [...keys, ...argv];
}

/** The script's answer to an event a journal replays after Redis had applied it: nothing changed. */
export const REPLAYED = 'replayed';

export interface ScriptResult {
  readonly decision: Decision | typeof REPLAYED;
  /** The IP's seq after the call (last emitted, or unchanged). */
  readonly seq: number;
  /** Sessions in state up after the call (ZCARD of the session index), for the gauge. */
  readonly active: number;
  readonly events: IdentityEvent[];
}

const decisionSet: ReadonlySet<string> = new Set([...DECISIONS, REPLAYED]);

/** Reads the script's reply; throws only on a reply the script cannot have produced. */
export function parseScriptReply(reply: unknown): ScriptResult {
  if (!Array.isArray(reply) || reply.length < 3 || !decisionSet.has(String(reply[0]))) {
    throw new Error(`unexpected session script reply: ${JSON.stringify(reply)}`);
  }
  const [decision, seq, active, ...events] = reply as [string, number, number, ...string[]];
  return {
    decision: decision as ScriptResult['decision'],
    seq: Number(seq),
    active: Number(active),
    events: events.map((e) => JSON.parse(e) as IdentityEvent),
  };
}

/** One script call (the sweeper and tests; the engine pipelines through `queueSessionScript`). */
export async function runSessionScript(
  redis: Redis,
  keyPrefix: string,
  key: string,
  input: SessionInput,
  cfg: SessionRules,
  now: EpochMs,
): Promise<ScriptResult> {
  defineSessionScript(redis);
  const fn = (redis as unknown as Record<string, ScriptFn>)[SESSION_COMMAND] as ScriptFn;
  return parseScriptReply(await fn.call(redis, ...scriptArgs(keyPrefix, key, input, cfg, now)));
}

/** Adds one script call to a pipeline of a client on which `defineSessionScript` was called. */
export function queueSessionScript(
  pipeline: ChainableCommander,
  keyPrefix: string,
  key: string,
  input: SessionInput,
  cfg: SessionRules,
  now: EpochMs,
): void {
  const fn = (pipeline as unknown as Record<string, ScriptFn>)[SESSION_COMMAND] as ScriptFn;
  void fn.call(pipeline, ...scriptArgs(keyPrefix, key, input, cfg, now));
}
