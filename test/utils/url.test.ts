import { describe, expect, it } from 'vitest';
import { redactText, redactUrl } from '../../src/utils/url.js';

describe('URL redaction', () => {
  it('hides passwords and keeps the rest', () => {
    expect(redactUrl('redis://:s3cret@localhost:6379/0')).toBe('redis://:**@localhost:6379/0');
    expect(redactUrl('amqp://guest:guest@host//')).toBe('amqp://guest:**@host//');
    expect(redactUrl('sqs://AKIA:abc%2Fdef@')).toBe('sqs://AKIA:**@');
    expect(redactUrl('sqlite:///.celeriac/broker.db')).toBe('sqlite:///.celeriac/broker.db');
  });

  it('redacts each URL of a sentinel list', () => {
    expect(redactUrl('sentinel://:pw@h1:26379;sentinel://:pw@h2:26380')).toBe('sentinel://:**@h1:26379;sentinel://:**@h2:26380');
  });

  it('redacts URLs and given secrets inside free text', () => {
    expect(redactText('connect to redis://u:pw@h failed; key pw2', ['pw2'])).toBe('connect to redis://u:**@h failed; key **');
  });
});
