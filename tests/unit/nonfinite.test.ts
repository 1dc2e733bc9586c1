/**
 * allFinite decides, on the all-reduced buffer, whether every rank skips a step; it sums in double
 * precision over two halves, so check it against the plain per-value definition at every position,
 * for odd and even lengths, and at the float32 extremes where a float32 sum would overflow. Every
 * case runs twice: on plain arrays (the JavaScript sum) and inside a KernelArena, where the SIMD
 * kernel checks all but the last n mod 4 values.
 */
import { describe, expect, it } from 'vitest';
import { allFinite } from '../../src/shared/optim/nonfinite.js';
import { KernelArena } from '../../src/shared/kernels/kernel-arena.js';

const byDefinition = (buf: Float32Array): boolean => buf.every((v) => Number.isFinite(v));

/** A copy of `a` inside a fresh arena, so allFinite takes the kernel path. */
function inArena(a: Float32Array): Float32Array {
  const arena = KernelArena.create([a.length]);
  const b = arena!.alloc(a.length)!;
  b.set(a);
  expect(KernelArena.holding(b)).toBe(arena);
  return b;
}

for (const [where, place] of [['plain arrays', (a: Float32Array): Float32Array => a], ['a kernel arena', inArena]] as const) {
  describe(`allFinite on ${where}`, () => {
    it('agrees with Number.isFinite for one bad value at any position, odd and even lengths', () => {
      for (const n of [0, 1, 2, 3, 7, 8, 33]) {
        const base = new Float32Array(n).map((_, i) => Math.sin(i) * 1e3);
        expect(allFinite(place(base))).toBe(true);
        for (let k = 0; k < n; k++) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            const b = base.slice();
            b[k] = bad;
            expect(allFinite(place(b))).toBe(byDefinition(b));
          }
        }
      }
    });

    it('never reports overflow of a sum of finite extremes as non-finite', () => {
      const max = 3.4028234663852886e38; // largest float32
      expect(allFinite(place(new Float32Array(100_001).fill(max)))).toBe(true);
      expect(allFinite(place(new Float32Array(100_000).map((_, i) => (i % 3 === 0 ? -max : max))))).toBe(true);
      expect(allFinite(place(Float32Array.of(1e-45, -1e-45, 0, -0)))).toBe(true);
    });

    it('flags opposite infinities, which sum to NaN', () => {
      expect(allFinite(place(Float32Array.of(Infinity, 1, -Infinity, 2)))).toBe(false);
      expect(allFinite(place(Float32Array.of(1, Infinity, 2, -Infinity, 3)))).toBe(false);
    });
  });
}
