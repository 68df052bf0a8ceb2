/**
 * Connections for blocking pops. BRPOP holds its connection, so each waiting consumer gets one
 * from a small pool (capped by `maxConnections`). A waiting BRPOP is ended early with
 * CLIENT UNBLOCK, which makes it return nothing: shutdown is immediate and no popped message can
 * be lost by tearing a connection down mid-reply.
 */
import type { Redis } from 'ioredis';

interface BlockingConnection {
  redis: Redis;
  /** CLIENT ID of the current socket; changes after each reconnect. */
  id: number | null;
}

export class BlockingConnections {
  private readonly idle: BlockingConnection[] = [];
  private readonly all = new Set<BlockingConnection>();
  private readonly waiters: ((conn: BlockingConnection | null) => void)[] = [];
  private closed = false;

  constructor(
    private readonly open: () => Redis,
    private readonly control: Redis,
    private readonly max: number,
  ) {}

  /** BRPOP over `lists` for up to `timeoutSeconds`; null on timeout, abort or close. */
  async brpop(lists: string[], timeoutSeconds: number, signal: AbortSignal): Promise<[string, string] | null> {
    const conn = await this.acquire();
    if (!conn) return null;
    const unblock = (): void => {
      if (conn.id !== null) void this.control.client('UNBLOCK', conn.id).catch(() => undefined);
    };
    try {
      if (signal.aborted) return null;
      if (conn.id === null) conn.id = Number(await conn.redis.client('ID'));
      signal.addEventListener('abort', unblock, { once: true });
      if (signal.aborted) return null;
      const reply = await conn.redis.brpop(...lists, Math.max(0.01, Math.round(timeoutSeconds * 100) / 100));
      return reply ? [reply[0], reply[1]] : null;
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
        if (conn.id !== null) await this.control.client('UNBLOCK', conn.id).catch(() => undefined);
        await conn.redis.quit().catch(() => conn.redis.disconnect());
      }),
    );
  }

  private acquire(): Promise<BlockingConnection | null> {
    if (this.closed) return Promise.resolve(null);
    const conn = this.idle.pop();
    if (conn) return Promise.resolve(conn);
    if (this.all.size < this.max) {
      const redis = this.open();
      const created: BlockingConnection = { redis, id: null };
      redis.on('ready', () => (created.id = null));
      this.all.add(created);
      return Promise.resolve(created);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(conn: BlockingConnection): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(conn);
    else this.idle.push(conn);
  }
}
