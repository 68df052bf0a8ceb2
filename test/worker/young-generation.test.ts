import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function newSpaceAfterLoad(capMb: number): number {
  const child = new URL('../helpers/young-generation-child.ts', import.meta.url).pathname;
  const res = spawnSync(process.execPath, ['--import', 'tsx', child, String(capMb)], { encoding: 'utf8', timeout: 60_000 });
  expect(res.status, res.stderr).toBe(0);
  return (JSON.parse(res.stdout.trim().split('\n').at(-1)!) as { newSpaceMb: number }).newSpaceMb;
}

describe('capYoungGeneration', () => {
  it("keeps V8's new space at the cap under steady allocation, and leaves it alone with 0", () => {
    expect(newSpaceAfterLoad(4)).toBeLessThanOrEqual(4);
    expect(newSpaceAfterLoad(0)).toBeGreaterThan(4);
  });
});
