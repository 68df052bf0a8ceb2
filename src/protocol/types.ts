/**
 * Types of Celery's task message protocol (v2) and of the transport-level message kombu moves.
 * Field names are the wire names on purpose: these objects are serialized as they are.
 */

/** A canvas signature in Celery's dict form (`celery/canvas.py::Signature`). */
export interface SignatureDict {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  subtask_type: string | null;
  immutable: boolean;
  chord_size?: number | null;
}

/** The third element of a v2 body: workflow links carried by the message. */
export interface TaskEmbed {
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  /** Remaining chain steps, in reverse order: the worker pops the last one. */
  chain: SignatureDict[] | null;
  /** On chord-header tasks: the chord body. */
  chord: SignatureDict | null;
}

export type TaskBody = [unknown[], Record<string, unknown>, TaskEmbed];

/** Protocol v2 headers, in the order `celery/app/amqp.py::as_task_v2` emits them. */
export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  eta: string | null;
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  /** `[hard, soft]` in seconds. */
  timelimit: [number | null, number | null];
  root_id: string;
  parent_id: string | null;
  argsrepr: string;
  kwargsrepr: string;
  origin: string;
  ignore_result: boolean;
  replaced_task_nesting?: number;
  stamped_headers?: string[] | null;
  stamps?: Record<string, unknown>;
  compression?: string;
  redelivered?: boolean;
  [custom: string]: unknown;
}

/** AMQP-style message properties. Virtual transports add delivery_info, delivery_tag and body_encoding. */
export interface MessageProperties {
  correlation_id?: string;
  reply_to?: string;
  delivery_mode?: number;
  priority?: number;
  expiration?: string;
  [key: string]: unknown;
}

/**
 * A message as kombu hands it to a transport: an already serialized (and possibly compressed) body
 * plus its content type, encoding, headers and properties. Brokers store and move this, nothing more.
 */
export interface TransportMessage {
  body: Buffer;
  contentType: string;
  contentEncoding: string;
  headers: Record<string, unknown>;
  properties: MessageProperties;
}

/** A task message after decoding, normalized to protocol v2 whatever its wire version was. */
export interface DecodedTaskMessage {
  protocol: 1 | 2;
  headers: TaskHeaders;
  properties: MessageProperties;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: TaskEmbed;
}
