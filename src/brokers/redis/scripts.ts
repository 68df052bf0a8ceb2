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
 * take: move up to `max` messages from the first non-empty list into a hold list, without the
 * messages passing through Lua (turning a payload into a Lua string and back costs about as much
 * as everything else a message needs in Redis; `SORT ... BY nosort LIMIT ... STORE` copies inside
 * Redis). The caller reads the hold with `LRANGE` in the same write and, once it has seen the
 * messages, records them in kombu's `unacked` hash and `unacked_index` and deletes the hold in one
 * `MULTI`. Until then the hold, listed in the holds index with the time it was filled, is what a
 * restore brings back if the worker dies: a taken message is never only in a process's memory.
 *   KEYS[1] holds index zset, KEYS[2] hold list, KEYS[3..] lists in kombu's BRPOP order
 *   ARGV[1] max messages, ARGV[2] now (Unix seconds), ARGV[3] hold list name (its index member)
 *   returns {list number (1-based), count} or {} when every list is empty; the hold holds the
 *   messages in list order (the oldest, next by RPOP, last)
 */
const TAKE = `
local max = tonumber(ARGV[1])
for i = 3, #KEYS do
  local len = redis.call('LLEN', KEYS[i])
  if len > 0 then
    local take = math.min(len, max)
    redis.call('SORT', KEYS[i], 'BY', 'nosort', 'LIMIT', len - take, take, 'STORE', KEYS[2])
    if take == len then redis.call('DEL', KEYS[i]) else redis.call('LTRIM', KEYS[i], 0, len - take - 1) end
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
    return {i - 2, take}
  end
end
return {}
`;

/**
 * restoreHold: put back what a dead worker's hold still holds (it took the messages and never
 * recorded them), unless its owner recorded them meanwhile (then the index entry is gone).
 *   KEYS[1] holds index, KEYS[2] hold, KEYS[3..] the list each payload goes back to
 *   ARGV[1] the hold's index member, ARGV[2..] payloads (redelivered set), one per list
 *   returns 1 when restored, 0 when the hold was no longer listed
 */
const RESTORE_HOLD = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
for i = 3, #KEYS do redis.call('RPUSH', KEYS[i], ARGV[i - 1]) end
redis.call('DEL', KEYS[2])
return 1
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
  celeriacTake(...keysThenArgs: (string | number)[]): Promise<number[]>;
  celeriacRestoreHold(...keysThenArgs: (string | number)[]): Promise<number>;
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
  client.defineCommand('celeriacTake', { lua: TAKE });
  client.defineCommand('celeriacRestoreHold', { lua: RESTORE_HOLD });
  client.defineCommand('celeriacAck', { lua: ACK, numberOfKeys: 2 });
  client.defineCommand('celeriacRestore', { lua: RESTORE });
  client.defineCommand('celeriacDeadLetter', { lua: DEAD_LETTER, numberOfKeys: 3 });
  client.defineCommand('celeriacReleaseLock', { lua: RELEASE_LOCK, numberOfKeys: 1 });
  return client as Redis & BrokerScripts;
}
