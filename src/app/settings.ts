/**
 * The one table of settings. Each row gives our camelCase name, Celery's setting name, the
 * environment variable, the schema and the default. Validation, environment parsing and
 * docs/configuration.md all come from this table (a test checks the doc against it).
 */
import { z } from 'zod';
import type { RouteFunction } from './routing.js';

export interface SettingSpec {
  /** Celery's name, e.g. `broker_url`. */
  celery: string;
  /** Environment variable read at app creation. */
  env: string | null;
  schema: z.ZodType;
  default: unknown;
  description: string;
}

const seconds = z.number().nonnegative();
const optionalSeconds = seconds.nullable();
const jsonObject = z.record(z.string(), z.unknown());
const routeTarget = z
  .object({
    queue: z.string().optional(),
    exchange: z.string().optional(),
    routingKey: z.string().optional(),
    priority: z.number().int().min(0).max(255).optional(),
  })
  .strict();

const routeMap = z.record(z.string(), z.union([z.string(), routeTarget]));
const routeFunction = z.custom<RouteFunction>((v) => typeof v === 'function', 'expected a function');

export const RETRY_POLICY_SCHEMA = z
  .object({
    maxRetries: z.number().int().nonnegative().nullable().optional(),
    intervalStart: seconds.optional(),
    intervalStep: seconds.optional(),
    intervalMax: seconds.optional(),
  })
  .strict();

export const SETTINGS = {
  brokerUrl: {
    celery: 'broker_url',
    env: 'CELERIAC_BROKER_URL',
    schema: z.string().min(1),
    default: 'sqlite:///.celeriac/broker.db',
    description: 'Broker URL. The default is the embedded SQLite broker, so nothing needs a server.',
  },
  resultBackend: {
    celery: 'result_backend',
    env: 'CELERIAC_RESULT_BACKEND',
    schema: z.string().min(1).nullable(),
    default: 'sqlite:///.celeriac/results.db',
    description: 'Result backend URL; `null` disables result storage.',
  },
  brokerTransportOptions: {
    celery: 'broker_transport_options',
    env: 'CELERIAC_BROKER_TRANSPORT_OPTIONS',
    schema: jsonObject,
    default: {},
    description: 'Options passed to the broker transport (e.g. `visibilityTimeout`, `pollingInterval`). JSON in the environment.',
  },
  resultBackendTransportOptions: {
    celery: 'result_backend_transport_options',
    env: 'CELERIAC_RESULT_BACKEND_TRANSPORT_OPTIONS',
    schema: jsonObject,
    default: {},
    description: 'Options passed to the result backend. JSON in the environment.',
  },
  taskDefaultQueue: {
    celery: 'task_default_queue',
    env: 'CELERIAC_TASK_DEFAULT_QUEUE',
    schema: z.string().min(1),
    default: 'celery',
    description: 'Queue used when no route and no `queue` option apply.',
  },
  taskDefaultPriority: {
    celery: 'task_default_priority',
    env: 'CELERIAC_TASK_DEFAULT_PRIORITY',
    schema: z.number().int().min(0).max(255).nullable(),
    default: null,
    description: 'Priority of messages that set none.',
  },
  taskRoutes: {
    celery: 'task_routes',
    env: null,
    schema: z.union([routeMap, routeFunction, z.array(z.union([routeMap, routeFunction]))]),
    default: {},
    description: 'Routes by task name or glob (`"video.*": {queue: "video"}`), a function, or a list of both.',
  },
  taskSerializer: {
    celery: 'task_serializer',
    env: 'CELERIAC_TASK_SERIALIZER',
    schema: z.enum(['json', 'msgpack', 'yaml']),
    default: 'json',
    description: 'Serializer for task messages.',
  },
  taskCompression: {
    celery: 'task_compression',
    env: 'CELERIAC_TASK_COMPRESSION',
    schema: z.enum(['zlib', 'gzip', 'bzip2', 'brotli', 'lzma', 'xz']).nullable(),
    default: null,
    description: 'Compression for task messages.',
  },
  resultSerializer: {
    celery: 'result_serializer',
    env: 'CELERIAC_RESULT_SERIALIZER',
    schema: z.enum(['json']),
    default: 'json',
    description: 'Serializer for stored results. Only `json` for now: msgpack results need binary values, which arrive with the Redis backend.',
  },
  acceptContent: {
    celery: 'accept_content',
    env: 'CELERIAC_ACCEPT_CONTENT',
    schema: z.array(z.string()).min(1),
    default: ['json'],
    description: 'Serializers a worker accepts. pickle is always refused. Comma-separated in the environment.',
  },
  resultExpires: {
    celery: 'result_expires',
    env: 'CELERIAC_RESULT_EXPIRES',
    schema: optionalSeconds,
    default: 86400,
    description: 'Seconds a result is kept; `null` keeps it forever.',
  },
  resultExtended: {
    celery: 'result_extended',
    env: 'CELERIAC_RESULT_EXTENDED',
    schema: z.boolean(),
    default: false,
    description: 'Also store name, args, kwargs, worker, retries and queue with each result.',
  },
  taskIgnoreResult: {
    celery: 'task_ignore_result',
    env: 'CELERIAC_TASK_IGNORE_RESULT',
    schema: z.boolean(),
    default: false,
    description: 'Do not store task results unless a task says otherwise.',
  },
  taskStoreErrorsEvenIfIgnored: {
    celery: 'task_store_errors_even_if_ignored',
    env: 'CELERIAC_TASK_STORE_ERRORS_EVEN_IF_IGNORED',
    schema: z.boolean(),
    default: false,
    description: 'Store failures of tasks whose results are ignored.',
  },
  taskTrackStarted: {
    celery: 'task_track_started',
    env: 'CELERIAC_TASK_TRACK_STARTED',
    schema: z.boolean(),
    default: false,
    description: 'Store STARTED when a worker begins a task.',
  },
  taskAcksLate: {
    celery: 'task_acks_late',
    env: 'CELERIAC_TASK_ACKS_LATE',
    schema: z.boolean(),
    default: false,
    description: 'Ack after the task returns instead of when it starts.',
  },
  taskAcksOnFailureOrTimeout: {
    celery: 'task_acks_on_failure_or_timeout',
    env: 'CELERIAC_TASK_ACKS_ON_FAILURE_OR_TIMEOUT',
    schema: z.boolean(),
    default: true,
    description: 'With acks late: ack failed tasks (true) or reject them without requeue (false).',
  },
  taskPublishRetry: {
    celery: 'task_publish_retry',
    env: 'CELERIAC_TASK_PUBLISH_RETRY',
    schema: z.boolean(),
    default: true,
    description: 'Retry publishing when the broker connection fails.',
  },
  taskPublishRetryPolicy: {
    celery: 'task_publish_retry_policy',
    env: 'CELERIAC_TASK_PUBLISH_RETRY_POLICY',
    schema: RETRY_POLICY_SCHEMA,
    default: { maxRetries: 3, intervalStart: 0, intervalStep: 0.2, intervalMax: 1 },
    description: 'How publishing retries: `maxRetries`, `intervalStart`, `intervalStep`, `intervalMax` (seconds).',
  },
  workerConcurrency: {
    celery: 'worker_concurrency',
    env: 'CELERIAC_WORKER_CONCURRENCY',
    schema: z.number().int().positive().nullable(),
    default: null,
    description: 'Tasks run at once by a worker; `null` means the number of CPUs, as in Celery.',
  },
  workerPrefetchMultiplier: {
    celery: 'worker_prefetch_multiplier',
    env: 'CELERIAC_WORKER_PREFETCH_MULTIPLIER',
    schema: z.number().int().nonnegative(),
    default: 4,
    description: 'Messages reserved per concurrency slot; 0 means no limit.',
  },
  workerDisablePrefetch: {
    celery: 'worker_disable_prefetch',
    env: 'CELERIAC_WORKER_DISABLE_PREFETCH',
    schema: z.boolean(),
    default: false,
    description:
      'Take a message only when a slot is free (no prefetching ahead of the pool). On SQLite, memory, Redis and SQS the worker pauses its consumer while every slot is busy; on RabbitMQ, which pushes messages, it only sets the prefetch to `concurrency`, so with early acks as many messages again may wait.',
  },
  workerMaxYoungGenerationMb: {
    celery: 'worker_max_young_generation_mb',
    env: 'CELERIAC_WORKER_MAX_YOUNG_GENERATION_MB',
    schema: z.number().nonnegative(),
    default: 8,
    description:
      "celeriac only: the `celeriac worker` process stops V8 growing its young generation (new space) past this many MB; 0 keeps V8's default (up to 32 MB). Smaller saves memory and costs CPU in garbage collection. Measured on 2 cores with no-op tasks over Redis (docs/worker.md): 8 MB peaks at about 90 MB RSS and 16 MB at about 97 MB, for about 3 µs (some 12 %) more worker CPU per task at 8; 4 MB cost about 20 % of throughput.",
  },
  workerHeapGrowthPercent: {
    celery: 'worker_heap_growth_percent',
    env: 'CELERIAC_WORKER_HEAP_GROWTH_PERCENT',
    schema: z.number().int().nonnegative(),
    default: 50,
    description:
      'celeriac only: the `celeriac worker` process lets V8\'s old generation grow by this percent of the live heap between full GCs; 0 keeps V8\'s own factor (up to 4x, from a large start). Smaller saves memory for more full GCs.',
  },
  workerHostname: {
    celery: 'worker_hostname',
    env: 'CELERIAC_WORKER_HOSTNAME',
    schema: z.string().min(1).nullable(),
    default: null,
    description: 'Node name of workers (`-n`); default `celery@<hostname>`.',
  },
  workerPool: {
    celery: 'worker_pool',
    env: 'CELERIAC_WORKER_POOL',
    schema: z.preprocess(
      (v) => (v === 'prefork' ? 'processes' : v === 'solo' ? 'async' : v),
      z.enum(['async', 'threads', 'processes'], { message: "expected 'async', 'threads' or 'processes' (Celery's 'prefork' and 'solo' are accepted)" }),
    ),
    default: 'async',
    description:
      'Where tasks run (`-P`): `async` in the worker\'s event loop, `threads` in worker threads, `processes` in child processes. Time limits can only really stop code in threads and processes.',
  },
  workerMaxTasksPerChild: {
    celery: 'worker_max_tasks_per_child',
    env: 'CELERIAC_WORKER_MAX_TASKS_PER_CHILD',
    schema: z.number().int().positive().nullable(),
    default: null,
    description: 'Replace a pool thread or process after it ran this many tasks (`threads`/`processes` pools).',
  },
  workerMaxMemoryPerChild: {
    celery: 'worker_max_memory_per_child',
    env: 'CELERIAC_WORKER_MAX_MEMORY_PER_CHILD',
    schema: z.number().int().positive().nullable(),
    default: null,
    description:
      'KiB. Replace a pool process whose resident memory (a thread: its heap and buffers) went over this, after the task that did it.',
  },
  taskTimeLimit: {
    celery: 'task_time_limit',
    env: 'CELERIAC_TASK_TIME_LIMIT',
    schema: optionalSeconds,
    default: null,
    description: 'Hard time limit in seconds: the task is stopped and fails with TimeLimitExceeded.',
  },
  taskSoftTimeLimit: {
    celery: 'task_soft_time_limit',
    env: 'CELERIAC_TASK_SOFT_TIME_LIMIT',
    schema: optionalSeconds,
    default: null,
    description: "Soft time limit in seconds: the task's signal aborts with SoftTimeLimitExceeded so it can clean up.",
  },
  taskRejectOnWorkerLost: {
    celery: 'task_reject_on_worker_lost',
    env: 'CELERIAC_TASK_REJECT_ON_WORKER_LOST',
    schema: z.boolean(),
    default: false,
    description: 'With acks late, requeue a task whose pool process died (or that a cold shutdown stopped) instead of failing it.',
  },
  taskDefaultRateLimit: {
    celery: 'task_default_rate_limit',
    env: 'CELERIAC_TASK_DEFAULT_RATE_LIMIT',
    schema: z.union([z.string(), z.number().nonnegative()]).nullable(),
    default: null,
    description: "Rate limit of tasks that set none: `'10/s'`, `'200/m'`, `'100/h'` or tasks per second.",
  },
  workerDisableRateLimits: {
    celery: 'worker_disable_rate_limits',
    env: 'CELERIAC_WORKER_DISABLE_RATE_LIMITS',
    schema: z.boolean(),
    default: false,
    description: 'Ignore every rate limit in this worker.',
  },
  globalRateLimitUrl: {
    celery: 'global_rate_limit_url',
    env: 'CELERIAC_GLOBAL_RATE_LIMIT_URL',
    schema: z.string().min(1).nullable(),
    default: null,
    description:
      'Redis URL holding cluster-wide rate limits (`globalRateLimit`). Default: the broker if it is Redis, else the result backend if it is Redis.',
  },
  workerSoftShutdownTimeout: {
    celery: 'worker_soft_shutdown_timeout',
    env: 'CELERIAC_WORKER_SOFT_SHUTDOWN_TIMEOUT',
    schema: seconds,
    default: 0,
    description: 'Seconds a warm shutdown lets running tasks go on before it turns cold; 0 waits for them without limit.',
  },
  workerRevokeExpires: {
    celery: 'worker_revoke_expires',
    env: 'CELERIAC_WORKER_REVOKE_EXPIRES',
    schema: seconds.positive(),
    default: 10800,
    description:
      'Seconds a revocation is honoured (Celery\'s REVOKE_EXPIRES). Revocations are kept in the result backend, so workers started later, or offline at the time, honour them too.',
  },
  logLevel: {
    celery: 'worker_log_level',
    env: 'CELERIAC_LOG_LEVEL',
    schema: z.enum(['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'critical', 'silent']),
    default: 'info',
    description: 'Log level (`-l`).',
  },
} satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;
