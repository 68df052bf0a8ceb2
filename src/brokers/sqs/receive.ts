/**
 * Receiving from several SQS queues for `ChannelOps.reserve`, the way kombu's asynchronous SQS
 * consumer does it: one long poll per queue, all at once, so an idle worker waits on every queue
 * without busy polling and a message on any of them is taken at once.
 *
 * A long poll is never aborted: SQS (and the emulator) would still take a message for a request whose
 * client went away, hiding it for a whole visibility timeout. Instead a poll that finishes after its
 * reserve returned leaves its messages in a small buffer for the next reserve, or gives them straight
 * back (visibility 0) when every consumer that wanted them has been cancelled or the channel closes.
 * Buffered messages are given back once they have waited half a visibility timeout, so a message
 * whose receipt may have lapsed is never handed out.
 */
import { ChangeMessageVisibilityCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { BrokerLogger } from '../virtual/options.js';
import { sleep } from '../virtual/consumer.js';
import { isQueueMissing, type ResolvedQueue, type SqsQueues } from './queues.js';

/** SQS returns at most 10 messages per ReceiveMessage. */
export const SQS_MAX_MESSAGES = 10;

export interface Received {
  q: ResolvedQueue;
  message: Message;
  receivedAt: number;
  /** The consumers (by their abort signals) this message was fetched for. */
  owners: Set<AbortSignal>;
}

export interface PollerSettings {
  visibilityTimeout: number;
  waitTimeSeconds: number;
  pollingInterval: number;
  logger?: BrokerLogger;
}

interface Pending {
  done: Promise<void>;
  owners: Set<AbortSignal>;
}

export class SqsPoller {
  private readonly pending = new Map<string, Pending>();
  private readonly failures = new Map<string, unknown>();
  private buffer: Received[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly givingBack = new Set<Promise<void>>();
  private closed = false;
  private readonly maxHoldMs: number;

  constructor(
    private readonly queues: SqsQueues,
    private readonly settings: PollerSettings,
  ) {
    this.maxHoldMs = Math.max(100, settings.visibilityTimeout * 500);
  }

  async reserve(queueNames: string[], max: number, waitMs: number, signal: AbortSignal): Promise<Received[]> {
    if (this.closed || signal.aborted || max <= 0) return [];
    const resolved: ResolvedQueue[] = [];
    for (const name of queueNames) resolved.push((await this.queues.resolve(name)) as ResolvedQueue);
    this.sweep();
    const buffered = this.take(resolved, max, signal);
    if (buffered.length > 0) return buffered;
    const { waitTimeSeconds } = this.settings;
    if (resolved.length > 1 || waitTimeSeconds === 0) {
      // One quick pass in the caller's order first, so queue rotation is honoured when several have work.
      for (const q of resolved) {
        if (signal.aborted) return [];
        const got = await this.receive(q, max, 0, new Set([signal]));
        if (got.length > 0) return got;
      }
      if (waitTimeSeconds === 0) {
        // Long polling is off: pause between empty polls (kombu's polling_interval), abortable.
        await sleep(Math.min(this.settings.pollingInterval * 1000, waitMs), signal);
        return [];
      }
    }
    const deadline = Date.now() + waitMs;
    while (!this.closed && !signal.aborted) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const wait = Math.min(waitTimeSeconds, Math.max(1, Math.ceil(remaining / 1000)));
      for (const q of resolved) this.poll(q, max, wait, signal);
      await this.changed(signal, remaining);
      for (const q of resolved) {
        const err = this.failures.get(q.queue);
        if (err !== undefined) {
          this.failures.delete(q.queue);
          throw err;
        }
      }
      const got = this.take(resolved, max, signal);
      if (got.length > 0) return got;
    }
    return [];
  }

  /** Stop: wait for the polls in flight and give back whatever they or the buffer hold. */
  async close(): Promise<void> {
    this.closed = true;
    this.notify();
    await Promise.allSettled([...this.pending.values()].map((p) => p.done));
    this.giveBack(this.buffer.splice(0));
    await Promise.allSettled([...this.givingBack]);
  }

  /** Join the long poll already running on `q`, or start one. */
  private poll(q: ResolvedQueue, max: number, waitSeconds: number, signal: AbortSignal): void {
    const running = this.pending.get(q.queue);
    if (running) {
      running.owners.add(signal);
      return;
    }
    const owners = new Set([signal]);
    const done = this.receive(q, max, waitSeconds, owners).then(
      (got) => {
        if (this.closed || [...owners].every((s) => s.aborted)) this.giveBack(got);
        else this.buffer.push(...got);
      },
      (err: unknown) => {
        if (isQueueMissing(err)) this.queues.forget(q.queue);
        this.failures.set(q.queue, err);
      },
    );
    const entry: Pending = { done, owners };
    this.pending.set(q.queue, entry);
    void done.finally(() => {
      this.pending.delete(q.queue);
      this.notify();
    });
  }

  private async receive(q: ResolvedQueue, max: number, waitSeconds: number, owners: Set<AbortSignal>): Promise<Received[]> {
    const out = await q.client.send(
      new ReceiveMessageCommand({
        QueueUrl: q.url,
        MaxNumberOfMessages: Math.min(SQS_MAX_MESSAGES, max),
        WaitTimeSeconds: waitSeconds,
        // Sent on every receive so the configured timeout holds on queues made elsewhere (predefined ones too).
        VisibilityTimeout: this.settings.visibilityTimeout,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    const receivedAt = Date.now();
    return (out.Messages ?? []).map((message) => ({ q, message, receivedAt, owners }));
  }

  /** Up to `max` buffered messages of `queues`, in the caller's queue order. */
  private take(queues: ResolvedQueue[], max: number, signal: AbortSignal): Received[] {
    if (this.buffer.length === 0) return [];
    const out: Received[] = [];
    for (const q of queues) {
      for (const r of this.buffer) {
        if (out.length >= max) break;
        if (r.q.queue === q.queue && !out.includes(r)) out.push(r);
      }
    }
    if (out.length > 0) {
      this.buffer = this.buffer.filter((r) => !out.includes(r));
      for (const r of out) r.owners.add(signal);
    }
    return out;
  }

  /** Give back buffered messages that waited too long or that no live consumer wants. */
  private sweep(): void {
    const now = Date.now();
    const keep: Received[] = [];
    const back: Received[] = [];
    for (const r of this.buffer) {
      const orphaned = [...r.owners].every((s) => s.aborted);
      (orphaned || now - r.receivedAt > this.maxHoldMs ? back : keep).push(r);
    }
    this.buffer = keep;
    this.giveBack(back);
  }

  private giveBack(entries: Received[]): void {
    for (const r of entries) {
      const returning = r.q.client
        .send(new ChangeMessageVisibilityCommand({ QueueUrl: r.q.url, ReceiptHandle: r.message.ReceiptHandle, VisibilityTimeout: 0 }))
        .then(
          () => undefined,
          (err: unknown) =>
            this.settings.logger?.warn('broker: could not return an SQS message; it reappears after its visibility timeout', {
              queue: r.q.queue,
              err: (err as Error).message,
            }),
        );
      this.givingBack.add(returning);
      void returning.finally(() => this.givingBack.delete(returning));
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolve when a poll finishes, the caller aborts, or `ms` pass. */
  private changed(signal: AbortSignal, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.listeners.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
