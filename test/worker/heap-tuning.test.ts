import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function heapAfterLoad(capMb: number, growthPercent: number): { newSpaceMb: number; oldSpaceMb: number } {
  const child = new URL('../helpers/heap-tuning-child.ts', import.meta.url).pathname;
  const res = spawnSync(process.execPath, ['--import', 'tsx', child, String(capMb), String(growthPercent)], { encoding: 'utf8', timeout: 60_000 });
  expect(res.status, res.stderr).toBe(0);
  return JSON.parse(res.stdout.trim().split('\n').at(-1)!) as { newSpaceMb: number; oldSpaceMb: number };
}

describe('worker heap tuning', () => {
  it("keeps V8's new space at the cap under steady allocation, and leaves it alone with 0", () => {
    expect(heapAfterLoad(4, 0).newSpaceMb).toBeLessThanOrEqual(4);
    expect(heapAfterLoad(0, 0).newSpaceMb).toBeGreaterThan(4);
  });

  it('collects the garbage left by start-up in one full GC', () => {
    const child = new URL('../helpers/startup-gc-child.ts', import.meta.url).pathname;
    const res = spawnSync(process.execPath, ['--import', 'tsx', child], { encoding: 'utf8', timeout: 60_000 });
    expect(res.status, res.stderr).toBe(0);
    const { before, after } = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as { before: number; after: number };
    expect(before - after).toBeGreaterThan(10);
  });

  it("a small heap growth percent keeps the old generation's peak nearer the live heap than V8's default", () => {
    const tuned = heapAfterLoad(4, 10).oldSpaceMb;
    const untuned = heapAfterLoad(4, 0).oldSpaceMb;
    expect(tuned).toBeLessThan(untuned);
  });
});
