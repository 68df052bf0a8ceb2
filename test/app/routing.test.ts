import { describe, expect, it } from 'vitest';
import { Router } from '../../src/app/routing.js';

describe('task routes', () => {
  it('matches exact names before globs, strings as queue names', () => {
    const router = new Router({ 'video.encode': 'fast', 'video.*': { queue: 'video', priority: 3 } });
    expect(router.route('video.encode', [], {})).toEqual({ queue: 'fast' });
    expect(router.route('video.thumb', [], {})).toEqual({ queue: 'video', priority: 3 });
    expect(router.route('mail.send', [], {})).toBeNull();
  });

  it('treats glob metacharacters other than * literally', () => {
    const router = new Router({ 'a.b*': 'q' });
    expect(router.route('a.bc', [], {})).toEqual({ queue: 'q' });
    expect(router.route('aXbc', [], {})).toBeNull();
  });

  it('uses the first route that answers in a list, including functions', () => {
    const router = new Router([(name, args) => (name === 'x' && args[0] === 1 ? 'one' : null), { '*': 'default-ish' }]);
    expect(router.route('x', [1], {})).toEqual({ queue: 'one' });
    expect(router.route('x', [2], {})).toEqual({ queue: 'default-ish' });
  });
});
