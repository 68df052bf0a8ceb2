/**
 * Random (version 4) UUIDs for task ids and delivery tags, two per message sent. Node's
 * `randomUUID` builds each from some twenty string pieces; this writes the hex digits into one
 * buffer from a pool of random bytes and makes a single string: half the time, a tenth of the garbage.
 */
import { randomFillSync } from 'node:crypto';

const HEX = Buffer.from('0123456789abcdef', 'latin1');
const POOL_UUIDS = 512;
const pool = Buffer.allocUnsafe(16 * POOL_UUIDS);
let offset = pool.length;
const text = Buffer.allocUnsafe(36);

/**
 * Eight hex digits chosen at random when the process starts: the first group of every task id this
 * process makes (`taskId`). A client then hears the results of all its own tasks on one pattern
 * subscription (`celery-task-meta-<prefix>-*`) instead of subscribing and unsubscribing a channel
 * per call, and results of other processes' tasks do not match it. The other 90 bits stay random
 * per id, so ids remain unique; the ids are still version 4 UUIDs in form.
 */
export const TASK_ID_PREFIX = uuid4().slice(0, 8);

/** A new task id: a random UUID whose first group is this process's `TASK_ID_PREFIX`. */
export function taskId(): string {
  return TASK_ID_PREFIX + uuid4().slice(8);
}

export function uuid4(): string {
  if (offset + 16 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  let at = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d; // '-'
    let byte = pool[offset + i] as number;
    if (i === 6) byte = (byte & 0x0f) | 0x40; // version 4
    else if (i === 8) byte = (byte & 0x3f) | 0x80; // RFC 4122 variant
    text[at++] = HEX[byte >> 4] as number;
    text[at++] = HEX[byte & 0x0f] as number;
  }
  offset += 16;
  return text.toString('latin1', 0, 36);
}
