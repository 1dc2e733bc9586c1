/**
 * allFinite decides, on the all-reduced buffer, whether every rank skips a step; it sums in double
 * precision over two halves, so check it against the plain per-value definition at every position,
 * for odd and even lengths, and at the float32 extremes where a float32 sum would overflow.
 */
import { describe, expect, it } from 'vitest';
import { allFinite } from '../../src/shared/nonfinite.js';

const byDefinition = (buf: Float32Array): boolean => buf.every((v) => Number.isFinite(v));

describe('allFinite', () => {
  it('agrees with Number.isFinite for one bad value at any position, odd and even lengths', () => {
    for (const n of [0, 1, 2, 3, 7, 8, 33]) {
      const base = new Float32Array(n).map((_, i) => Math.sin(i) * 1e3);
      expect(allFinite(base)).toBe(true);
      for (let k = 0; k < n; k++) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const b = base.slice();
          b[k] = bad;
          expect(allFinite(b)).toBe(byDefinition(b));
        }
      }
    }
  });

  it('never reports overflow of a sum of finite extremes as non-finite', () => {
    const max = 3.4028234663852886e38; // largest float32
    expect(allFinite(new Float32Array(100_001).fill(max))).toBe(true);
    expect(allFinite(new Float32Array(100_000).map((_, i) => (i % 3 === 0 ? -max : max)))).toBe(true);
    expect(allFinite(Float32Array.of(1e-45, -1e-45, 0, -0))).toBe(true);
  });

  it('flags opposite infinities, which sum to NaN', () => {
    expect(allFinite(Float32Array.of(Infinity, 1, -Infinity, 2))).toBe(false);
    expect(allFinite(Float32Array.of(1, Infinity, 2, -Infinity, 3))).toBe(false);
  });
});
