/**
 * Connections for blocking pops. BRPOP holds its connection, so each waiting consumer gets one
 * from a small pool (capped by `maxConnections`). A waiting BRPOP is ended early with
 * CLIENT UNBLOCK, which makes it return nothing: shutdown is immediate and no popped message can
 * be lost by tearing a connection down mid-reply.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

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
  async brpop(lists: string[], timeoutSeconds: number, signal: AbortSignal): Promise<[string, string] | null> {
    const conn = await this.acquire();
    if (!conn) return null;
    const unblock = (): void => void this.unblock(conn);
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

  private acquire(): Promise<BlockingConnection | null> {
    if (this.closed) return Promise.resolve(null);
    const conn = this.idle.pop();
    if (conn) return Promise.resolve(conn);
    if (this.all.size < this.max) {
      const name = `celeriac-brpop-${randomUUID().slice(0, 12)}`;
      const redis = this.open(name);
      const created: BlockingConnection = { redis, id: null, name };
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
