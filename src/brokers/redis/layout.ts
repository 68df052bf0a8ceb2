/**
 * Key and channel names of kombu's Redis transport (celery-reference §2.1–2.7), in one place, so a
 * Python Celery on the same Redis finds exactly what we write.
 */
import { dumps } from '../../protocol/pyjson.js';

/** kombu's `Channel.sep`: between queue and priority step, and inside binding members. */
export const KOMBU_SEP = '\x06\x16';
export const KOMBU_PRIORITY_STEPS: readonly number[] = [0, 3, 6, 9];

export interface RedisLayoutOptions {
  /** `global_keyprefix`: prepended to every key and pub/sub channel. */
  globalKeyprefix: string;
  sep: string;
  prioritySteps: readonly number[];
  /** Database number, for the fanout channel prefix `/{db}.`. */
  db: number;
  /** kombu's `fanout_prefix`: true → `/{db}.`, a string → that string, false → none. */
  fanoutPrefix: boolean | string;
  /** kombu's `fanout_patterns`: add `/<routing key>` to fanout channels. */
  fanoutPatterns: boolean;
}

export class RedisLayout {
  readonly unacked: string;
  readonly unackedIndex: string;
  readonly unackedMutex: string;
  /** celeriac's index of hold lists (see scripts.ts `take`), scored by when each was filled. */
  readonly holds: string;
  private readonly fanoutChannelPrefix: string;

  constructor(readonly options: RedisLayoutOptions) {
    this.unacked = this.key('unacked');
    this.unackedIndex = this.key('unacked_index');
    this.unackedMutex = this.key('unacked_mutex');
    this.holds = this.key('_celeriac.holds');
    const { fanoutPrefix, db } = options;
    this.fanoutChannelPrefix = fanoutPrefix === true ? `/${db}.` : fanoutPrefix === false ? '' : fanoutPrefix;
  }

  key(name: string): string {
    return this.options.globalKeyprefix + name;
  }

  /** kombu's `priority(n)`: the highest step not above `priority` (steps[bisect(steps, p) - 1]). */
  step(priority: number): number {
    let chosen = this.options.prioritySteps[0] ?? 0;
    for (const step of this.options.prioritySteps) if (step <= priority) chosen = step;
    return chosen;
  }

  /** `_q_for_pri`: the list holding `queue`'s messages of this priority (step 0 is the bare name). */
  listKey(queue: string, priority: number): string {
    const step = this.step(priority);
    return this.key(step ? `${queue}${this.options.sep}${step}` : queue);
  }

  /** Every list of a queue, one per priority step. */
  queueLists(queue: string): string[] {
    return [...new Set(this.options.prioritySteps.map((step) => this.listKey(queue, step)))];
  }

  /** kombu's BRPOP key order: priority step first, then queue, `[q_for_pri(q, p) for p in steps for q in queues]`. */
  consumeOrder(queues: string[]): { list: string; queue: string }[] {
    const out: { list: string; queue: string }[] = [];
    const seen = new Set<string>();
    for (const step of this.options.prioritySteps) {
      for (const queue of queues) {
        const list = this.listKey(queue, step);
        if (seen.has(list)) continue;
        seen.add(list);
        out.push({ list, queue });
      }
    }
    return out;
  }

  /** The list a consumer's `take` moves messages into until they are recorded as unacked. */
  holdKey(consumer: string, seq: number): string {
    return this.key(`_celeriac.hold.${consumer}.${seq}`);
  }

  /** Where we keep messages rejected without requeue (kombu drops them). */
  deadLetterKey(queue: string): string {
    return this.key(`_celeriac.dead.${queue}`);
  }

  /** An entry of a dead-letter list for a raw payload that never became an unacked record. */
  deadLetterEntry(reason: string, payload: string): string {
    return dumps({ reason, payload, dead_at: Math.floor(Date.now() / 1000) });
  }

  /** `_kombu.binding.<exchange>`: a set of `routing_key + sep + pattern + sep + queue`. */
  bindingKey(exchange: string): string {
    return this.key(`_kombu.binding.${exchange}`);
  }

  bindingMember(routingKey: string, queue: string, pattern = ''): string {
    const sep = this.options.sep;
    return `${routingKey}${sep}${pattern}${sep}${queue}`;
  }

  parseBindingMember(member: string): { routingKey: string; pattern: string; queue: string } | null {
    const parts = member.split(this.options.sep);
    if (parts.length !== 3) return null;
    const [routingKey, pattern, queue] = parts as [string, string, string];
    return { routingKey, pattern, queue };
  }

  /** `_get_publish_topic`: `/{db}.<exchange>[/<routing key>]`. */
  fanoutChannel(exchange: string, routingKey: string): string {
    const suffix = routingKey && this.options.fanoutPatterns ? `/${routingKey}` : '';
    return this.key(`${this.fanoutChannelPrefix}${exchange}${suffix}`);
  }

  /** Patterns that receive everything published to `exchange`, with or without a routing key. */
  fanoutPatterns(exchange: string): string[] {
    const base = this.key(`${this.fanoutChannelPrefix}${escapeGlob(exchange)}`);
    return this.options.fanoutPatterns ? [base, `${base}/*`] : [base];
  }

  /** The exchange and routing key a fanout channel name was published with. */
  parseFanoutChannel(channel: string): { exchange: string; routingKey: string } | null {
    const head = this.key(this.fanoutChannelPrefix);
    if (!channel.startsWith(head)) return null;
    const rest = channel.slice(head.length);
    const slash = rest.indexOf('/');
    return slash === -1 ? { exchange: rest, routingKey: '' } : { exchange: rest.slice(0, slash), routingKey: rest.slice(slash + 1) };
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
