/**
 * The Redis broker's atomic transitions, one Lua script each (BullMQ's rule). Every script keeps
 * kombu's layout (celery-reference §2): lists per queue and priority step, the `unacked` hash of
 * `[envelope, exchange, routing_key]` and the `unacked_index` sorted set scored by delivery time,
 * so a Python Celery worker on the same Redis reads, acks and restores what we write, and we its.
 *
 * Scores are Unix seconds as floats, as kombu's `time()`. Payloads are never re-encoded in Lua
 * (cjson would round numbers); Node builds any rewritten envelope.
 */
import type { Redis } from 'ioredis';

/**
 * reserve: take up to `max` messages and record each as unacked, in one step, so a crash can never
 * lose a taken message (kombu pops first and records afterwards).
 *   KEYS[1] unacked hash, KEYS[2] unacked_index zset,
 *   KEYS[3..] pairs (priority list, its dead-letter list) in kombu's BRPOP order
 *   ARGV[1] max messages; ARGV[2] pair number (1-based) of a payload already popped by BRPOP, or 0;
 *   ARGV[3] that payload; ARGV[4] now, Unix seconds (the client's clock, as kombu's scores)
 *   returns a flat array {list, tag, payload, …}; tag '' marks a malformed payload moved to the
 *   dead-letter list instead (it has no delivery_tag to be acked by).
 */
const RESERVE = `
local unacked, index = KEYS[1], KEYS[2]
local max = tonumber(ARGV[1])
local now = tonumber(ARGV[4])
local out = {}
-- The JSON string starting at index from (just after its opening quote) and its closing quote's index,
-- or nil when it has escapes (then the envelope is decoded properly instead).
local function plain(payload, from)
  local close = string.find(payload, '"', from, true)
  if not close then return nil end
  local text = string.sub(payload, from, close - 1)
  if string.find(text, '\\\\', 1, true) then return nil end
  return text, close
end
-- Envelopes as kombu and celeriac write them hold one "delivery_tag" and one "delivery_info" of
-- plain strings: found by plain search, without decoding the JSON (which is most of this script's
-- cost). Anything else (repeats, escapes, another layout) is decoded with cjson. The searches start
-- from a rare character ('_', 'y'): a plain search stops at each occurrence of the pattern's first
-- character, and JSON is full of quotes (measured: 0.15 us instead of 0.6 us a search).
local function quick(payload)
  -- kombu and celeriac put properties last: look in the tail first, then in the whole envelope.
  local from = #payload > 400 and #payload - 400 or 1
  local s, at = string.find(payload, '_tag": "', from, true)
  if not s and from > 1 then s, at = string.find(payload, '_tag": "', 1, true) end
  if not s or string.sub(payload, s - 9, s - 1) ~= '"delivery' or string.find(payload, '_tag"', at, true) then return nil end
  local tag = plain(payload, at + 1)
  if not tag or tag == '' then return nil end
  local i, info = string.find(payload, 'y_info": {"exchange": "', from, true)
  if not i and from > 1 then i, info = string.find(payload, 'y_info": {"exchange": "', 1, true) end
  if not i or string.sub(payload, i - 8, i - 1) ~= '"deliver' or string.find(payload, 'y_info"', info, true) then return nil end
  local ex, exEnd = plain(payload, info + 1)
  if not ex or string.sub(payload, exEnd, exEnd + 18) ~= '", "routing_key": "' then return nil end
  local rk = plain(payload, exEnd + 19)
  if not rk then return nil end
  return tag, '"' .. ex .. '"', '"' .. rk .. '"'
end
local function decoded(payload)
  local ok, env = pcall(cjson.decode, payload)
  local props = ok and type(env) == 'table' and env.properties
  local tag = type(props) == 'table' and props.delivery_tag
  if type(tag) ~= 'string' or tag == '' then return nil end
  local info = type(props.delivery_info) == 'table' and props.delivery_info or {}
  local ex = type(info.exchange) == 'string' and info.exchange or ''
  local rk = type(info.routing_key) == 'string' and info.routing_key or ''
  return tag, cjson.encode(ex), cjson.encode(rk)
end
-- Messages taken in this call, in order: {list, dead list, payload}.
local got = {}
local popped = tonumber(ARGV[2])
if popped > 0 then got[1] = {KEYS[1 + popped * 2], KEYS[2 + popped * 2], ARGV[3]} end
for i = 3, #KEYS, 2 do
  if #got >= max then break end
  local items = redis.call('RPOP', KEYS[i], max - #got)
  if items then
    for _, payload in ipairs(items) do got[#got + 1] = {KEYS[i], KEYS[i + 1], payload} end
  end
end
-- Tags first, then one HMGET to find duplicates, one HSET and one ZADD for the lot (a redis.call
-- per message is most of a script's cost), in chunks that stay under Lua's unpack limit.
local tags, values = {}, {}
for n, item in ipairs(got) do
  local tag, ex, rk = quick(item[3])
  if not tag then tag, ex, rk = decoded(item[3]) end
  if tag then
    tags[n] = tag
    values[n] = '[' .. item[3] .. ', ' .. ex .. ', ' .. rk .. ']'
  else
    redis.call('LPUSH', item[2], cjson.encode({reason = 'malformed envelope: not JSON with properties.delivery_tag', payload = item[3], dead_at = now}))
  end
end
local CHUNK = 1000
local seen = {}
for from = 1, #got, CHUNK do
  local to = math.min(from + CHUNK - 1, #got)
  local ask = {}
  for n = from, to do if tags[n] then ask[#ask + 1] = tags[n] end end
  local exists = #ask > 0 and redis.call('HMGET', unacked, unpack(ask)) or {}
  local k, fields, scores = 0, {}, {}
  for n = from, to do
    local tag = tags[n]
    if tag then
      k = k + 1
      if exists[k] or seen[tag] then
        -- The same envelope delivered twice (a duplicate publish): give this copy its own tag.
        tag = tag .. '#' .. string.format('%.6f', now) .. '.' .. n
        tags[n] = tag
      end
      seen[tag] = true
      fields[#fields + 1] = tag; fields[#fields + 1] = values[n]
      scores[#scores + 1] = now; scores[#scores + 1] = tag
    end
  end
  if #fields > 0 then
    redis.call('HSET', unacked, unpack(fields))
    redis.call('ZADD', index, unpack(scores))
  end
end
for n, item in ipairs(got) do
  out[#out + 1] = item[1]; out[#out + 1] = tags[n] or ''; out[#out + 1] = item[3]
end
return out
`;

/**
 * ack: forget deliveries (kombu's `_remove_from_indices`), a batch at a time.
 *   KEYS[1] unacked, KEYS[2] unacked_index; ARGV tags
 */
const ACK = `
redis.call('ZREM', KEYS[2], unpack(ARGV))
return redis.call('HDEL', KEYS[1], unpack(ARGV))
`;

/**
 * restore: put an unacked message back on its list(s), kombu's `restore_by_tag`. With ARGV[2] set, it
 * only acts if the stored value is still exactly that (someone else may have restored or acked it
 * meanwhile; kombu uses WATCH for the same check).
 *   KEYS[1] unacked, KEYS[2] unacked_index, KEYS[3..] target lists
 *   ARGV[1] tag, ARGV[2] expected stored value or '', ARGV[3] payload to push (redelivered set),
 *   ARGV[4] 'front' (RPUSH: next to be served, as kombu's restore) or 'back' (LPUSH)
 *   returns 1 when restored, 0 when the tag was gone or changed
 */
const RESTORE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
if ARGV[2] ~= '' and current ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
for i = 3, #KEYS do
  if ARGV[4] == 'front' then redis.call('RPUSH', KEYS[i], ARGV[3]) else redis.call('LPUSH', KEYS[i], ARGV[3]) end
end
return 1
`;

/**
 * deadLetter: move an unacked message to a dead-letter list with the reason (kombu has no such
 * place and drops it; we keep the last `ARGV[3]` per queue for inspection).
 *   KEYS[1] unacked, KEYS[2] unacked_index, KEYS[3] dead-letter list
 *   ARGV[1] tag, ARGV[2] reason, ARGV[3] max entries kept, ARGV[4] expected stored value or ''
 */
const DEAD_LETTER = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current or (ARGV[4] ~= '' and current ~= ARGV[4]) then return 0 end
local t = redis.call('TIME')
redis.call('LPUSH', KEYS[3], cjson.encode({reason = ARGV[2], unacked = current, dead_at = tonumber(t[1])}))
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`;

/**
 * releaseLock: delete the `unacked_mutex` only if we still own it (redis-py's Lock release).
 *   KEYS[1] lock key; ARGV[1] our token
 */
const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface BrokerScripts {
  celeriacReserve(...keysThenArgs: (string | number)[]): Promise<string[]>;
  celeriacAck(unacked: string, index: string, ...tags: string[]): Promise<number>;
  celeriacRestore(...keysThenArgs: (string | number)[]): Promise<number>;
  celeriacDeadLetter(
    unacked: string,
    index: string,
    dead: string,
    tag: string,
    reason: string,
    keep: number,
    expected: string,
  ): Promise<number>;
  celeriacReleaseLock(lock: string, token: string): Promise<number>;
}

/** Register the scripts on a connection; ioredis sends EVALSHA and falls back to EVAL after a restart. */
export function defineBrokerScripts(client: Redis): Redis & BrokerScripts {
  // Scripts with a variable key count take the count as their first argument.
  client.defineCommand('celeriacReserve', { lua: RESERVE });
  client.defineCommand('celeriacAck', { lua: ACK, numberOfKeys: 2 });
  client.defineCommand('celeriacRestore', { lua: RESTORE });
  client.defineCommand('celeriacDeadLetter', { lua: DEAD_LETTER, numberOfKeys: 3 });
  client.defineCommand('celeriacReleaseLock', { lua: RELEASE_LOCK, numberOfKeys: 1 });
  return client as Redis & BrokerScripts;
}
