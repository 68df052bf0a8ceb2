/**
 * Celery's native chord join on Redis (`RedisBackend.on_chord_part_return`, celery-reference §3.4),
 * key for key, so Python and celeriac header tasks of one chord count together:
 *   `celery-taskset-meta-<gid>.s`  header size, written at chord apply
 *   `celery-taskset-meta-<gid>.t`  INCR'd when header tasks are added later (`add_to_chord`)
 *   `celery-taskset-meta-<gid>.j`  sorted set of `[1, tid, state, result]` scored by group_index
 * Exactly one finishing header task sees the count reach `.s + .t` and gets every part back.
 */
import { dumps, loads } from '../../protocol/pyjson.js';

/**
 * chordPartReturn: Celery's ZADD/ZCOUNT/GET/GET/EXPIRE pipeline, atomic, plus the ZRANGE when complete.
 *   KEYS[1] .j, KEYS[2] .t, KEYS[3] .s
 *   ARGV[1] encoded part, ARGV[2] score (group_index or '+inf'), ARGV[3] expiry seconds (0 = none)
 *   returns {0} while incomplete, {1, part, part, …} (in group_index order) for the last one
 */
export const CHORD_PART_RETURN = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local ready = redis.call('ZCOUNT', KEYS[1], '-inf', '+inf')
local extra = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local size = redis.call('GET', KEYS[3])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl); redis.call('EXPIRE', KEYS[2], ttl); redis.call('EXPIRE', KEYS[3], ttl)
end
if not size or ready ~= (tonumber(size) or -1) + extra then return {0} end
local out = {1}
for _, part in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do out[#out + 1] = part end
return out
`;

export interface ChordPart {
  taskId: string;
  state: string;
  /** The stored result; for FAILURE/REVOKED Celery's `{exc_type, exc_message, exc_module}`. */
  result: unknown;
}

export interface ChordPartInput extends ChordPart {
  groupId: string;
  /** Position in the header; null sorts last, as Celery's `+inf`. */
  groupIndex: number | null;
}

/** `[1, tid, state, result]` as Python's json.dumps writes it. */
export function encodeChordPart(part: ChordPart): string {
  return dumps([1, part.taskId, part.state, part.result]);
}

export function decodeChordPart(text: string): ChordPart {
  const decoded = loads(text);
  if (!Array.isArray(decoded) || decoded.length < 4 || typeof decoded[1] !== 'string' || typeof decoded[2] !== 'string') {
    throw new Error(`not a chord part: ${text.slice(0, 200)}`);
  }
  return { taskId: decoded[1], state: decoded[2], result: decoded[3] };
}
