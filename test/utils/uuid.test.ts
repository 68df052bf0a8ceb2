import { describe, expect, it } from 'vitest';
import { uuid4 } from '../../src/utils/uuid.js';

describe('uuid4', () => {
  it('makes RFC 4122 version 4 UUIDs in lower-case hex', () => {
    for (let i = 0; i < 2000; i++) expect(uuid4()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('does not repeat across many pool refills, and every hex digit position varies', () => {
    const seen = new Set<string>();
    const digits = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 50_000; i++) {
      const id = uuid4();
      seen.add(id);
      for (let c = 0; c < 36; c++) digits[c]!.add(id[c]!);
    }
    expect(seen.size).toBe(50_000);
    // Fixed: the dashes (1 value) and the version digit (4); the variant digit takes 8, 9, a, b.
    expect(digits.map((d) => d.size)).toEqual(
      Array.from({ length: 36 }, (_, c) => ([8, 13, 18, 23].includes(c) ? 1 : c === 14 ? 1 : c === 19 ? 4 : 16)),
    );
  });
});
