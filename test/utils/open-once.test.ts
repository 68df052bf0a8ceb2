import { describe, expect, it } from 'vitest';
import { OpenOnce } from '../../src/utils/open-once.js';

describe('OpenOnce', () => {
  it('opens once and shares the result between concurrent callers', async () => {
    let opens = 0;
    const resource = new OpenOnce(async () => ({ n: ++opens }));
    const [a, b] = await Promise.all([resource.get(), resource.get()]);
    expect(a).toBe(b);
    expect(opens).toBe(1);
    expect(resource.started).toBe(true);
  });

  it('forgets a failed open so the next call retries', async () => {
    let attempts = 0;
    const resource = new OpenOnce(async () => {
      if (++attempts === 1) throw new Error('down');
      return 'up';
    });
    await expect(resource.get()).rejects.toThrow('down');
    expect(resource.started).toBe(false);
    await expect(resource.get()).resolves.toBe('up');
  });

  it('take() returns the open resource and resets, or null when nothing opened', async () => {
    let opens = 0;
    const resource = new OpenOnce(() => ++opens);
    expect(await resource.take()).toBeNull();
    await resource.get();
    expect(await resource.take()).toBe(1);
    expect(resource.started).toBe(false);
    expect(await resource.get()).toBe(2);
  });
});
