// The production transition table: one atomic Lua script call applies a batch of (event, IP)
// inputs in order. For each it reads the IP's state, decides, bumps its seq, writes the new state
// and appends the emitted events to the outbox stream in the same step, so replicas classify
// consistently and nothing decided is lost. It mirrors model.ts row for row (the property test
// holds them together). Deterministic: time and settings come in ARGV (no TIME), and it touches
// only KEYS (Redis Cluster: one hash tag).
//
// KEYS and ARGV are named once, in the lists below; the Lua side reads them by those names (the
// lists are written into the script) and the caller fills them through typed records, so the two
// sides cannot disagree about positions.
//
// Idempotence: each input carries its submission number `n` and the call its `source` (one per
// engine); the script skips inputs at or below the source's applied mark and raises the mark, so
// a batch re-sent after a lost reply is not applied twice.
//
// Kept as a TS string, not a .lua file, because tsc does not copy non-TS files into dist.
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/connection.js';
import { keyspace } from '../redis/keys.js';
import { defineScript } from '../redis/script.js';
import type { EpochMs, IdentityEvent } from '../types.js';
import { DECISIONS, isLine, type Decision, type SessionInput, type SessionRules } from './model.js';

/** KEYS shared by every input of a call, in order. */
export const CALL_KEYS = [
  'sessionIndex',
  'seqs',
  'outbox',
  'applied',
  'delivered',
  'seqFloor',
  'lastAt',
  'ended',
  'journals',
] as const;
/** KEYS of one input, repeated per input after CALL_KEYS. */
export const INPUT_KEYS = ['session', 'tunnels'] as const;
/** ARGV of the call, in order. */
export const CALL_ARGS = ['now', 'windowMs', 'idleMs', 'forwardOrphan', 'appliedTtlMs'] as const;
/** ARGV of one input, repeated per input after CALL_ARGS. */
export const INPUT_ARGS = [
  'op',
  'ipKey',
  'n',
  'ip',
  'user',
  'domain',
  'firewall',
  'vpn',
  'gateway',
  'peerIp',
  'tunnelId',
  'receivedAt',
  'correlationId',
  'journal',
  'journalId',
  'journalPart',
] as const;

export type CallKeys = Record<(typeof CALL_KEYS)[number], string>;
export type InputKeys = Record<(typeof INPUT_KEYS)[number], string>;
export type CallArgs = Record<(typeof CALL_ARGS)[number], string>;
export type InputArgs = Record<(typeof INPUT_ARGS)[number], string>;

const luaList = (names: readonly string[]) => `{ ${names.map((n) => `'${n}'`).join(', ')} }`;

// The shebang (Redis 7) makes Redis check memory before the script starts: out of memory, the
// whole call is refused (and retried by the engine) instead of failing halfway through a batch.
export const SESSION_SCRIPT = String.raw`#!lua
local CALL_KEYS, INPUT_KEYS = ${luaList(CALL_KEYS)}, ${luaList(INPUT_KEYS)}
local CALL_ARGS, INPUT_ARGS = ${luaList(CALL_ARGS)}, ${luaList(INPUT_ARGS)}
local K, A = {}, {}
for i, name in ipairs(CALL_KEYS) do K[name] = KEYS[i] end
for i, name in ipairs(CALL_ARGS) do A[name] = ARGV[i] end
local idxKey, seqKey, outKey, appliedKey = K.sessionIndex, K.seqs, K.outbox, K.applied
local deliveredKey, floorKey, lastKey, endedKey, journalsKey = K.delivered, K.seqFloor, K.lastAt, K.ended, K.journals
local now, windowMs, idleMs = tonumber(A.now), tonumber(A.windowMs), tonumber(A.idleMs)
local forwardOrphan = A.forwardOrphan == '1'
local inputs = (#ARGV - #CALL_ARGS) / #INPUT_ARGS

local function opt(v) if v == nil or v == '' or v == false then return nil end return v end

-- Per input: its keys, its fields and the events it emitted.
local sKey, tKey, ipk, line, tunnelId, receivedAt, corr, emitted, lastSeq

local function readInput(j)
  local k, a = #CALL_KEYS + (j - 1) * #INPUT_KEYS, #CALL_ARGS + (j - 1) * #INPUT_ARGS
  local I = {}
  for i, name in ipairs(INPUT_KEYS) do I[name] = KEYS[k + i] end
  for i, name in ipairs(INPUT_ARGS) do I[name] = ARGV[a + i] end
  return I
end

-- The IP's next seq. A chain (the seqs of an IP since its bookkeeping was last pruned) starts
-- above every seq a pruned IP ever had (the floor), and the ordering guard is told so (delivered =
-- the floor): no job of an older chain can be pushed after this one. HINCRBY answers 1 only when
-- it made the field (a chain's seqs are never 0): a new chain. Its delivered mark is written even
-- when the floor is 0, so the guard finds every chain's mark without asking whether it has one.
local function nextSeq()
  local seq = redis.call('HINCRBY', seqKey, ipk, 1)
  if seq ~= 1 then return seq end
  local floor = tonumber(redis.call('GET', floorKey) or '0')
  if floor > 0 then
    seq = floor + 1
    redis.call('HSET', seqKey, ipk, seq)
  end
  if tonumber(redis.call('HGET', deliveredKey, ipk) or '-1') < floor then redis.call('HSET', deliveredKey, ipk, floor) end
  return seq
end

local function emit(kind, who, recvAt, reason)
  local seq = nextSeq()
  local ev = { kind = kind, ip = who.ip, user = who.user, domain = who.domain, seq = seq,
    firewall = who.firewall, vpn = opt(who.vpn), gateway = opt(who.gateway), peerIp = opt(who.peerIp),
    reason = reason, at = now, receivedAt = recvAt, correlationId = corr }
  local json = cjson.encode(ev)
  redis.call('XADD', outKey, '*', 'ipKey', ipk, 'event', json)
  emitted[#emitted + 1] = json
  lastSeq = seq
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

-- hadSession: a session (and maybe tunnels) must go first; without one there is nothing to delete.
local function startSession(hadSession)
  if hadSession then endSession() end
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

local function expire(s)
  -- An index entry without a session cannot be expired: drop it so the sweeper does not spin on it.
  if not s then redis.call('ZREM', idxKey, ipk); return 'expire_skipped' end
  if not (s.lastUpAt < now - idleMs) then return 'expire_skipped' end
  emit('disconnect', s, now, 'expired')
  endSession()
  return 'expired'
end

local function down(s, same)
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

-- Resync and refresh: JIMS hears the session again (a rekey with a new seq), nothing else changes.
local function resync(s, reason)
  if not s then return 'resync_skipped' end
  emit('rekey', s, now, reason)
  return reason == 'refresh' and 'refreshed' or 'resynced'
end

local function decide(op)
  local s = load()
  if op == 'expire' then return expire(s) end
  if op == 'resync' or op == 'refresh' then return resync(s, op) end
  local same = s and s.user == line.user and s.domain == line.domain
  if op == 'up' then
    if not s then
      startSession(false)
      emit('connect', line, receivedAt, nil)
      return 'connect'
    end
    if same then return refresh(s) end
    emit('disconnect', s, receivedAt, 'replaced')
    startSession(true)
    emit('connect', line, receivedAt, nil)
    return 'replaced'
  elseif op == 'rekey-signal' then
    if not s then return 'rekey_no_session' end
    if line.user ~= '' and not same then return 'stale_rekey' end
    return refresh(s)
  elseif op == 'down' then
    return down(s, same)
  end
  error('ptim: unknown op ' .. tostring(op))
end

-- Decisions after which the IP has no session (its bookkeeping waits in the ended index to be
-- pruned), and those that start one (it leaves the index).
local ENDS = { disconnect = true, expired = true, orphan_down = true, orphan_down_ignored = true, rekey_no_session = true }
local STARTS = { connect = true, replaced = true }
local LINE_OPS = { up = true, down = true, ['rekey-signal'] = true }

-- A line received before the IP's last applied one (it went through another replica, or waited
-- longer) is refused: applying it would put an older state over a newer one.
local function decideLine(op)
  local last = redis.call('HGET', lastKey, ipk)
  if last and receivedAt < tonumber(last) then return 'out_of_order' end
  local decision = decide(op)
  redis.call('HSET', lastKey, ipk, receivedAt)
  if ENDS[decision] then redis.call('ZADD', endedKey, receivedAt, ipk)
  elseif STARTS[decision] then redis.call('ZREM', endedKey, ipk) end
  return decision
end

local function apply(I)
  sKey, tKey, ipk, tunnelId, corr = I.session, I.tunnels, I.ipKey, I.tunnelId, I.correlationId
  line = { ip = I.ip, user = I.user, domain = I.domain, firewall = I.firewall, vpn = I.vpn,
    gateway = I.gateway, peerIp = I.peerIp }
  receivedAt = tonumber(I.receivedAt)
  emitted, lastSeq = {}, nil
  local decision
  if LINE_OPS[I.op] then decision = decideLine(I.op)
  else
    decision = decide(I.op)
    if decision == 'expired' then redis.call('ZADD', endedKey, now, ipk) end
  end
  local reply = { decision, lastSeq or tonumber(redis.call('HGET', seqKey, ipk) or 0) }
  for i = 1, #emitted do reply[#reply + 1] = emitted[i] end
  return reply
end

-- A journal replay after a crash re-sends events Redis may already have applied. A journal
-- (instance) feeds its events in id order, one input per IP of an event (its part), and they are
-- applied in that order, so what it applied is a prefix: Redis keeps, per instance, the last
-- (id, part) applied, and one at or below it is the same input again. Nothing is kept per IP.
local function replayed(I)
  if I.journalId == '' or not LINE_OPS[I.op] then return false end
  local id, part = tonumber(I.journalId), tonumber(I.journalPart)
  local prev = redis.call('HGET', journalsKey, I.journal)
  if prev then
    local pid, ppart = string.match(prev, '^(%d+):(%d+)$')
    pid, ppart = tonumber(pid), tonumber(ppart)
    if id < pid or (id == pid and part <= ppart) then return true end
  end
  redis.call('HSET', journalsKey, I.journal, I.journalId .. ':' .. I.journalPart)
  return false
end

local appliedThrough = tonumber(redis.call('GET', appliedKey) or '-1')
local replies, last = {}, appliedThrough
for j = 1, inputs do
  local I = readInput(j)
  local n = tonumber(I.n)
  if n >= 0 and n <= appliedThrough then
    replies[j] = { 'skipped' }
  elseif replayed(I) then
    replies[j] = { 'replayed', tonumber(redis.call('HGET', seqKey, I.ipKey) or 0) }
    if n > last then last = n end
  else
    -- One input's failure (a bug, or a value Redis refuses) is its own, not the batch's.
    local ok, r = pcall(apply, I)
    if ok then replies[j] = r
    else replies[j] = { 'error', type(r) == 'table' and (r.err or 'error') or tostring(r) } end
    if n > last then last = n end
  end
end
if last > appliedThrough then redis.call('SET', appliedKey, last, 'PX', A.appliedTtlMs) end
return { redis.call('ZCARD', idxKey), replies }
`;

/** ioredis command name the script is registered under (EVALSHA with EVAL fallback). */
export const SESSION_COMMAND = 'ptimSessions';

/** How long a source's applied mark outlives its last call (a re-send comes within seconds). */
export const APPLIED_MARK_TTL_MS = 24 * 3600 * 1000;

type ScriptFn = (numberOfKeys: number, ...args: string[]) => Promise<unknown>;

/** Registers the script on a client (idempotent). The key count varies with the batch. */
export const defineSessionScript = (redis: RedisClient): void => defineScript(redis, SESSION_COMMAND, SESSION_SCRIPT);

/** One input of a call: the IP key (`ipKey(ip, scope)` from redis/keys.ts), the input, its submission number. */
export interface ScriptInput {
  readonly key: string;
  readonly input: SessionInput;
  /** Submission number of this input at its source, rising; -1 when the caller does not track it (never skipped). */
  readonly n: number;
}

/** The named ARGV of one input. */
export function inputArgs(item: ScriptInput, now: EpochMs): InputArgs {
  const { input, key, n } = item;
  const l = isLine(input) ? input : undefined;
  return {
    op: input.kind,
    ipKey: key,
    n: String(n),
    ip: l?.ip ?? '',
    user: l?.user ?? '',
    domain: l?.domain ?? '',
    firewall: l?.firewall ?? '',
    vpn: l?.vpn ?? '',
    gateway: l?.gateway ?? '',
    peerIp: l?.peerIp ?? '',
    tunnelId: l?.tunnelId ?? '',
    // Integers only: Lua formats numbers with 14 significant digits.
    receivedAt: String(Math.floor(l?.receivedAt ?? now)),
    correlationId: input.correlationId,
    journal: l?.journal?.instance ?? '',
    journalId: l?.journal ? String(l.journal.id) : '',
    journalPart: String(l?.journal?.part ?? 0),
  };
}

export interface ScriptCall {
  /** Distinguishes callers' submission numbers (one per engine); see the module comment. */
  readonly source: string;
  readonly inputs: readonly ScriptInput[];
}

/** The key count, then KEYS and ARGV, of one call, laid out from the named lists. */
export function scriptArgs(keyPrefix: string, call: ScriptCall, cfg: SessionRules, now: EpochMs): [number, ...string[]] {
  const ks = keyspace(keyPrefix);
  const callKeys: CallKeys = {
    sessionIndex: ks.sessionIndex,
    seqs: ks.seqs,
    outbox: ks.outbox,
    applied: ks.applied(call.source),
    delivered: ks.delivered,
    seqFloor: ks.seqFloor,
    lastAt: ks.lastAt,
    ended: ks.ended,
    journals: ks.journals,
  };
  const callArgs: CallArgs = {
    now: String(Math.floor(now)),
    windowMs: String(cfg.duplicateWindowSecs * 1000),
    idleMs: String(cfg.sessionIdleSecs * 1000),
    forwardOrphan: cfg.forwardOrphanDown ? '1' : '0',
    appliedTtlMs: String(APPLIED_MARK_TTL_MS),
  };
  const keys: string[] = CALL_KEYS.map((k) => callKeys[k]);
  const argv: string[] = CALL_ARGS.map((a) => callArgs[a]);
  for (const item of call.inputs) {
    const inputKeys: InputKeys = { session: ks.session(item.key), tunnels: ks.tunnels(item.key) };
    for (const k of INPUT_KEYS) keys.push(inputKeys[k]);
    const args = inputArgs(item, now);
    for (const a of INPUT_ARGS) argv.push(args[a]);
  }
  return [keys.length, ...keys, ...argv];
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

/** What the script did with one input. */
export type InputReply =
  | { readonly type: 'applied'; readonly result: ScriptResult }
  /** At or below the source's applied mark: a re-send of an input already applied. */
  | { readonly type: 'skipped' }
  /** The script failed on this input alone; others in the call are unaffected. */
  | { readonly type: 'error'; readonly error: Error };

const decisionSet: ReadonlySet<string> = new Set([...DECISIONS, REPLAYED]);

function parseInputReply(reply: unknown, active: number): InputReply {
  if (!Array.isArray(reply) || reply.length < 1)
    return { type: 'error', error: new Error(`unexpected reply ${JSON.stringify(reply)}`) };
  const [decision, seq, ...events] = reply as [string, number, ...string[]];
  if (decision === 'skipped') return { type: 'skipped' };
  if (decision === 'error') return { type: 'error', error: new Error(`session script: ${String(seq)}`) };
  if (!decisionSet.has(decision) || reply.length < 2)
    return { type: 'error', error: new Error(`unexpected session script reply: ${JSON.stringify(reply)}`) };
  return {
    type: 'applied',
    result: {
      decision: decision as ScriptResult['decision'],
      seq: Number(seq),
      active,
      events: events.map((e) => JSON.parse(e) as IdentityEvent),
    },
  };
}

/** Reads a call's reply: one InputReply per input, in order. Throws only on a reply the script cannot have produced. */
export function parseScriptReply(reply: unknown, inputs: number): InputReply[] {
  if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1]) || reply[1].length !== inputs) {
    throw new Error(`unexpected session script reply: ${JSON.stringify(reply)}`);
  }
  const active = Number(reply[0]);
  return (reply[1] as unknown[]).map((r) => parseInputReply(r, active));
}

/** One call on a client (the engine, the sweeper, tests). */
export async function runSessionCall(
  redis: RedisClient | ChainableCommander,
  keyPrefix: string,
  call: ScriptCall,
  cfg: SessionRules,
  now: EpochMs,
): Promise<InputReply[]> {
  if (call.inputs.length === 0) return [];
  if (!(SESSION_COMMAND in redis)) defineSessionScript(redis as RedisClient);
  const fn = (redis as unknown as Record<string, ScriptFn>)[SESSION_COMMAND] as ScriptFn;
  return parseScriptReply(await fn.call(redis, ...scriptArgs(keyPrefix, call, cfg, now)), call.inputs.length);
}

/** One input alone (tests and tools): its result, or the script's error thrown. */
export async function runSessionScript(
  redis: RedisClient,
  keyPrefix: string,
  key: string,
  input: SessionInput,
  cfg: SessionRules,
  now: EpochMs,
): Promise<ScriptResult> {
  const [r] = await runSessionCall(redis, keyPrefix, { source: 'single', inputs: [{ key, input, n: -1 }] }, cfg, now);
  if (r?.type !== 'applied') throw r?.type === 'error' ? r.error : new Error('session script skipped an untracked input');
  return r.result;
}
