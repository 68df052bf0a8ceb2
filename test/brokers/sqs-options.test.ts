/** SQS URLs, transport options (Celery's defaults, errors naming the option), redaction and queue names. */
import { describe, expect, it } from 'vitest';
import { createBroker } from '../../src/brokers/index.js';
import { parseSqsOptions, parseSqsUrl, sqsQueueName } from '../../src/brokers/sqs/index.js';
import { ConfigurationError } from '../../src/errors.js';
import { redactUrl } from '../../src/utils/url.js';

const SECRET = 'wJalr/XUtnFEMI+K7MDENG/bPxRfiCY';
const QUOTED = encodeURIComponent(SECRET); // wJalr%2FXUtnFEMI%2BK7MDENG%2FbPxRfiCY

function errorOf(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigurationError);
    return err as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('sqs:// URLs', () => {
  it('uses the default credential chain for a bare sqs://', () => {
    expect(parseSqsUrl('sqs://')).toEqual({ credentials: undefined, host: undefined, redactedUrl: 'sqs://' });
  });

  it('decodes URL-quoted credentials whose secret holds / and +', () => {
    const parsed = parseSqsUrl(`sqs://AKIDEXAMPLE:${QUOTED}@`);
    expect(parsed.credentials).toEqual({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET });
    expect(parsed.host).toBeUndefined();
    // `+` is not a space here (as Python's unquote, not unquote_plus).
    expect(parseSqsUrl('sqs://AK:a+b@').credentials?.secretAccessKey).toBe('a+b');
  });

  it('accepts a secret whose / was not quoted, and still redacts it', () => {
    const url = `sqs://AKIDEXAMPLE:${SECRET}@`;
    expect(parseSqsUrl(url).credentials?.secretAccessKey).toBe(SECRET);
    expect(redactUrl(url)).toBe('sqs://AKIDEXAMPLE:**@');
    expect(redactUrl(`sqs://AKIDEXAMPLE:${QUOTED}@localhost:4566`)).toBe('sqs://AKIDEXAMPLE:**@localhost:4566');
  });

  it('takes the endpoint from the URL host as kombu does (http, https with isSecure)', () => {
    expect(parseSqsOptions('sqs://k:s@localhost:4566').endpointUrl).toBe('http://localhost:4566');
    expect(parseSqsOptions('sqs://k:s@sqs.local', { is_secure: true }).endpointUrl).toBe('https://sqs.local');
    expect(parseSqsOptions('sqs://k:s@localhost:1', { endpointUrl: 'http://127.0.0.1:9324' }).endpointUrl).toBe('http://127.0.0.1:9324');
  });

  it("falls back to the SDK's AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL", () => {
    const saved = { sqs: process.env.AWS_ENDPOINT_URL_SQS, all: process.env.AWS_ENDPOINT_URL };
    try {
      process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1111';
      delete process.env.AWS_ENDPOINT_URL_SQS;
      expect(parseSqsOptions('sqs://').endpointUrl).toBe('http://127.0.0.1:1111');
      process.env.AWS_ENDPOINT_URL_SQS = 'http://127.0.0.1:2222';
      expect(parseSqsOptions('sqs://').endpointUrl).toBe('http://127.0.0.1:2222');
      expect(parseSqsOptions('sqs://', { endpointUrl: 'http://127.0.0.1:3333' }).endpointUrl).toBe('http://127.0.0.1:3333');
    } finally {
      for (const [key, value] of [['AWS_ENDPOINT_URL_SQS', saved.sqs], ['AWS_ENDPOINT_URL', saved.all]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('refuses half credentials without echoing the secret', () => {
    const err = errorOf(() => parseSqsUrl(`sqs://:${QUOTED}@`));
    expect(err.setting).toBe('broker_url');
    expect(err.message).not.toContain(QUOTED);
    expect(err.message).not.toContain(SECRET);
  });

  it('shows only the redacted URL on the broker', () => {
    const broker = createBroker(`sqs://AKIDEXAMPLE:${QUOTED}@`);
    expect(broker.url).toBe('sqs://AKIDEXAMPLE:**@');
    expect(broker.transport).toBe('sqs');
    expect(broker.capabilities).toMatchObject({ delayedDelivery: false, visibilityTimeout: true, deadLetter: false, priorities: false, fanout: false });
    expect(JSON.stringify(broker)).not.toContain(SECRET);
  });
});

describe('SQS transport options', () => {
  it("has Celery's defaults", () => {
    const saved = { r: process.env.AWS_REGION, d: process.env.AWS_DEFAULT_REGION };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      const o = parseSqsOptions('sqs://');
      expect(o).toMatchObject({ region: 'us-east-1', visibilityTimeout: 1800, pollingInterval: 1, waitTimeSeconds: 10, queueNamePrefix: '', base64Encoding: true });
      expect(o.endpointUrl).toBeUndefined();
      expect(o.predefinedQueues.size).toBe(0);
    } finally {
      if (saved.r !== undefined) process.env.AWS_REGION = saved.r;
      if (saved.d !== undefined) process.env.AWS_DEFAULT_REGION = saved.d;
    }
  });

  it('accepts camelCase and kombu snake_case names; pollingInterval may be a float', () => {
    const o = parseSqsOptions('sqs://', { wait_time_seconds: 20, visibility_timeout: 43200, polling_interval: 0.25, queue_name_prefix: 'dev-', region: 'eu-west-1' });
    expect(o).toMatchObject({ waitTimeSeconds: 20, visibilityTimeout: 43200, pollingInterval: 0.25, queueNamePrefix: 'dev-', region: 'eu-west-1' });
    expect(parseSqsOptions('sqs://', { pollingInterval: 2 }).pollingInterval).toBe(2);
  });

  it.each([
    [{ waitTimeSeconds: 30 }, 'waitTimeSeconds'],
    [{ wait_time_seconds: -1 }, 'wait_time_seconds'],
    [{ waitTimeSeconds: 1.5 }, 'waitTimeSeconds'],
    [{ visibilityTimeout: 43201 }, 'visibilityTimeout'],
    [{ visibilityTimeout: '1800' }, 'visibilityTimeout'],
    [{ pollingInterval: 'fast' }, 'pollingInterval'],
    [{ region: 5 }, 'region'],
    [{ endpointUrl: 'localhost:4566' }, 'endpointUrl'],
    [{ queueNamePrefix: ['a'] }, 'queueNamePrefix'],
    [{ stsTokenTimeout: 600 }, 'stsTokenTimeout'],
    [{ predefinedQueues: [] }, 'predefinedQueues'],
  ])('fails at startup on %j, naming %s', (options, name) => {
    const err = errorOf(() => createBroker('sqs://', options));
    expect(err.setting).toBe(`broker_transport_options.${name}`);
    expect(err.message).toContain(name);
  });

  it('takes stsRoleArn with stsTokenTimeout defaulting to 900 s, and refuses what is not a role ARN', () => {
    expect(parseSqsOptions('sqs://', { sts_role_arn: 'arn:aws:iam::123456789012:role/celery' }).sts).toEqual({
      roleArn: 'arn:aws:iam::123456789012:role/celery',
      tokenTimeout: 900,
    });
    const err = errorOf(() => createBroker('sqs://', { stsRoleArn: 'celery-role' }));
    expect(err.setting).toBe('broker_transport_options.stsRoleArn');
    expect(err.message).toMatch(/IAM role ARN/);
  });

  it('validates predefined queues: url, FIFO naming, raw credentials, backoff', () => {
    const ok = parseSqsOptions('sqs://', {
      predefined_queues: {
        celery: {
          url: 'https://sqs.us-east-1.amazonaws.com/123/celery',
          access_key_id: 'AK',
          secret_access_key: 'raw/secret+not%quoted',
          backoff_policy: { 1: 10, 2: 20 },
          backoff_tasks: ['tasks.flaky'],
        },
      },
    });
    const q = ok.predefinedQueues.get('celery');
    expect(q?.credentials).toEqual({ accessKeyId: 'AK', secretAccessKey: 'raw/secret+not%quoted' });
    expect([...(q?.backoffPolicy ?? [])]).toEqual([[1, 10], [2, 20]]);
    expect([...(q?.backoffTasks ?? [])]).toEqual(['tasks.flaky']);
    const bad = (entry: unknown) => errorOf(() => parseSqsOptions('sqs://', { predefinedQueues: { 'q.fifo': entry } }));
    expect(bad({ url: 'https://sqs/123/q' }).message).toMatch(/\.fifo/);
    expect(bad({}).setting).toBe('broker_transport_options.predefinedQueues.q.fifo.url');
    const secretErr = bad({ url: 'https://sqs/123/q.fifo', accessKeyId: 'AK', secretAccessKey: 42 });
    expect(secretErr.message).toMatch(/secretAccessKey/);
    expect(secretErr.message).not.toContain('42');
    expect(bad({ url: 'https://sqs/123/q.fifo', backoffPolicy: { 0: 10 } }).setting).toBe('broker_transport_options.predefinedQueues.q.fifo.backoffPolicy');
    expect(bad({ url: 'https://sqs/123/q.fifo', backoffPolicy: { 1: 50_000 } }).message).toMatch(/43200/);
    expect(bad({ url: 'https://sqs/123/q.fifo', backoffTasks: 'tasks.x' }).setting).toBe('broker_transport_options.predefinedQueues.q.fifo.backoffTasks');
  });
});

describe('SQS queue names', () => {
  it("mangles names as kombu's entity_name does, keeping .fifo", () => {
    expect(sqsQueueName('celery')).toBe('celery');
    expect(sqsQueueName('my.queue:high')).toBe('my-queue_high');
    expect(sqsQueueName('a@b/c+d_e-f')).toBe('a_b_c_d_e-f');
    expect(sqsQueueName('orders.v2.fifo')).toBe('orders-v2.fifo');
  });
});
