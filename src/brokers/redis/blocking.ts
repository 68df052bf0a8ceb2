/**
 * Connections for blocking pops. BRPOP holds its connection, so each waiting consumer gets one
 * from a small pool (capped by `maxConnections`). A waiting BRPOP is ended early with
 * CLIENT UNBLOCK, which makes it return nothing: shutdown is immediate and no popped message can
 * be lost by tearing a connection down mid-reply.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { inOneWrite } from './connection.js';

interface BlockingConnection {
  redis: Redis;
  /** CLIENT ID of the current socket; changes after each reconnect. */
  id: number | null;
  /** CLIENT SETNAME of this connection, to find it again after a reconnect. */
  name: string;
}

export class BlockingConnections {
  private readonly idle: BlockingConnection[] = [];
  private readonly all = new Set<BlockingConnection>();
  private readonly waiters: ((conn: BlockingConnection | null) => void)[] = [];
  private closed = false;

  constructor(
    private readonly open: (connectionName: string) => Redis,
    private readonly control: Redis,
    private readonly max: number,
  ) {}

  /** BRPOP over `lists` for up to `timeoutSeconds`; null on timeout, abort or close. */
  brpop(lists: string[], timeoutSeconds: number, signal: AbortSignal): Promise<[string, string] | null> {
    return this.whileBlocked(signal, async (redis) => {
      const reply = await redis.brpop(...lists, blockSeconds(timeoutSeconds));
      return reply ? [reply[0], reply[1]] : null;
    });
  }

  /**
   * BRPOP, and in the same write an `EXISTS` of `lists`, which Redis runs right after the pop (a
   * blocked client's next command waits in its buffer): the third element is how many of the lists
   * still hold messages (Redis deletes an emptied list), 0 when the consumer can block again at
   * once instead of asking for more first. A plain command, not a script: Redis runs a script call
   * for several microseconds more, on every lone message. Two plain commands
   * in one write, not an ioredis pipeline, whose object waiting out an idle spell measured half as
   * many scavenges again and six times the full GCs per message at -c 2.
   */
  brpopCounting(lists: string[], timeoutSeconds: number, signal: AbortSignal): Promise<[string, string, number] | null> {
    return this.whileBlocked(signal, async (redis) => {
      const [popping, counting] = inOneWrite(redis, () => [
        redis.brpop(...lists, blockSeconds(timeoutSeconds)),
        redis.exists(...lists),
      ] as const);
      // The count's outcome is only a hint: a failed count reads as "maybe more".
      const [popped, remaining] = await Promise.all([popping, counting.catch(() => 1)]);
      return popped ? [popped[0], popped[1], Number(remaining)] : null;
    });
  }

  /**
   * Run `block` on a pooled connection that `signal` can unblock; null on abort or close. With a
   * connection idle (the usual case) the command is written before this returns.
   */
  private whileBlocked<T>(signal: AbortSignal, block: (redis: Redis) => Promise<T | null>): Promise<T | null> {
    const conn = this.acquire();
    if (conn instanceof Promise) return conn.then((c) => (c ? this.blockOn(c, signal, block) : null));
    return conn ? this.blockOn(conn, signal, block) : Promise.resolve(null);
  }

  private async blockOn<T>(conn: BlockingConnection, signal: AbortSignal, block: (redis: Redis) => Promise<T | null>): Promise<T | null> {
    const unblock = (): void => void this.unblock(conn);
    try {
      if (signal.aborted) return null;
      if (conn.id === null) conn.id = Number(await conn.redis.client('ID'));
      signal.addEventListener('abort', unblock, { once: true });
      if (signal.aborted) return null;
      return await block(conn.redis);
    } finally {
      signal.removeEventListener('abort', unblock);
      this.release(conn);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter(null);
    await Promise.all(
      [...this.all].map(async (conn) => {
        await this.unblock(conn);
        await conn.redis.quit().catch(() => conn.redis.disconnect());
      }),
    );
  }

  /**
   * End a waiting BRPOP. After a reconnect ioredis re-sends the BRPOP itself, so the socket's new
   * CLIENT ID is unknown (asking on that socket would queue behind the BRPOP): find it by name.
   */
  private async unblock(conn: BlockingConnection): Promise<void> {
    try {
      let id = conn.id;
      if (id === null) {
        const list = String(await this.control.call('CLIENT', 'LIST', 'TYPE', 'normal'));
        const line = list.split('\n').find((l) => l.includes(` name=${conn.name} `));
        const match = line ? /(?:^|\s)id=(\d+)/.exec(line) : null;
        id = match ? Number(match[1]) : null;
      }
      if (id !== null) await this.control.client('UNBLOCK', id);
    } catch {
      // Redis unreachable: the BRPOP ends by its own timeout.
    }
  }

  /** A connection now (idle or new), null once closed, or a promise of one when all are busy. */
  private acquire(): BlockingConnection | null | Promise<BlockingConnection | null> {
    if (this.closed) return null;
    const conn = this.idle.pop();
    if (conn) return conn;
    if (this.all.size < this.max) {
      const name = `celeriac-brpop-${randomUUID().slice(0, 12)}`;
      const redis = this.open(name);
      const created: BlockingConnection = { redis, id: null, name };
      redis.on('ready', () => (created.id = null));
      this.all.add(created);
      return created;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(conn: BlockingConnection): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(conn);
    else this.idle.push(conn);
  }
}

/** BRPOP's timeout argument: seconds, to 10 ms, at least 10 ms (0 would block forever). */
function blockSeconds(timeoutSeconds: number): number {
  return Math.max(0.01, Math.round(timeoutSeconds * 100) / 100);
}
