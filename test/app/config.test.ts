import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyConfig, configFromEnv, defaultConfig } from '../../src/app/config.js';
import { Celery } from '../../src/app/celery.js';
import { ConfigurationError } from '../../src/errors.js';
import { BEGIN, END, renderSettingsTable } from '../../scripts/settings-table.js';

describe('configuration', () => {
  it('has Celery defaults', () => {
    const conf = defaultConfig();
    expect(conf.taskDefaultQueue).toBe('celery');
    expect(conf.workerPrefetchMultiplier).toBe(4);
    expect(conf.resultExpires).toBe(86400);
    expect(conf.acceptContent).toEqual(['json']);
    expect(conf.brokerUrl).toMatch(/^sqlite:\/\/\//);
  });

  it('accepts our names, Celery names and the broker/backend shorthands', () => {
    const conf = applyConfig(defaultConfig(), { broker: 'memory://', backend: null, task_acks_late: true, workerConcurrency: 3 });
    expect(conf.brokerUrl).toBe('memory://');
    expect(conf.resultBackend).toBeNull();
    expect(conf.taskAcksLate).toBe(true);
    expect(conf.workerConcurrency).toBe(3);
  });

  it('fails fast on an unknown setting, naming it', () => {
    expect(() => applyConfig(defaultConfig(), { brokr_url: 'x' })).toThrow(ConfigurationError);
    expect(() => applyConfig(defaultConfig(), { brokr_url: 'x' })).toThrow(/brokr_url/);
  });

  it('fails fast on a value of the wrong type, naming the setting', () => {
    expect(() => applyConfig(defaultConfig(), { workerPrefetchMultiplier: -1 })).toThrow(/workerPrefetchMultiplier/);
    expect(() => applyConfig(defaultConfig(), { task_serializer: 'pickle' })).toThrow(/task_serializer/);
  });

  it('reads typed values from CELERIAC_* variables', () => {
    const env = configFromEnv({
      CELERIAC_BROKER_URL: 'memory://env',
      CELERIAC_TASK_ACKS_LATE: 'yes',
      CELERIAC_WORKER_CONCURRENCY: '7',
      CELERIAC_ACCEPT_CONTENT: 'json, msgpack',
      CELERIAC_RESULT_BACKEND: 'none',
      CELERIAC_BROKER_TRANSPORT_OPTIONS: '{"visibilityTimeout": 5}',
    });
    expect(env).toEqual({
      brokerUrl: 'memory://env',
      taskAcksLate: true,
      workerConcurrency: 7,
      acceptContent: ['json', 'msgpack'],
      resultBackend: null,
      brokerTransportOptions: { visibilityTimeout: 5 },
    });
  });

  it('names the environment variable when its value is bad', () => {
    expect(() => configFromEnv({ CELERIAC_WORKER_CONCURRENCY: 'many' })).toThrow(/CELERIAC_WORKER_CONCURRENCY/);
    expect(() => configFromEnv({ CELERIAC_BROKER_TRANSPORT_OPTIONS: '{oops' })).toThrow(/CELERIAC_BROKER_TRANSPORT_OPTIONS/);
  });

  it('applies constructor < environment < configure() (CLI flags)', () => {
    const app = new Celery('t', { broker: 'memory://ctor', taskDefaultQueue: 'ctor' }, { env: { CELERIAC_BROKER_URL: 'memory://env' } });
    expect(app.conf.brokerUrl).toBe('memory://env');
    expect(app.conf.taskDefaultQueue).toBe('ctor');
    app.configure({ brokerUrl: 'memory://flag' });
    expect(app.conf.brokerUrl).toBe('memory://flag');
  });

  it('docs/configuration.md lists exactly the settings table', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const generated = doc.slice(doc.indexOf(BEGIN) + BEGIN.length, doc.indexOf(END)).trim();
    expect(generated).toBe(renderSettingsTable());
  });
});
