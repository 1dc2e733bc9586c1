import { describe, expect, it } from 'vitest';
import { addInto, checksum, chunkSpans, divideInPlace, maxAbsDiff, segmentBounds } from '../../src/shared/kernels/flat.js';

describe('segmentBounds', () => {
  it.each([
    [1, 1], [1, 3], [2, 3], [7, 3], [1000, 8], [1_000_003, 5], [0, 4],
  ])('tiles length %i into %i contiguous parts', (length, parts) => {
    let next = 0;
    const sizes: number[] = [];
    for (let i = 0; i < parts; i++) {
      const s = segmentBounds(length, parts, i);
      expect(s.start).toBe(next);
      next = s.start + s.length;
      sizes.push(s.length);
    }
    expect(next).toBe(length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });
});

describe('chunkSpans', () => {
  it('covers a span with chunks no larger than the limit', () => {
    const chunks = chunkSpans({ start: 10, length: 25 }, 10);
    expect(chunks).toEqual([{ start: 10, length: 10 }, { start: 20, length: 10 }, { start: 30, length: 5 }]);
    expect(chunkSpans({ start: 3, length: 0 }, 10)).toEqual([]);
  });
});

describe('element-wise helpers', () => {
  it('adds into an offset and divides in place', () => {
    const t = Float32Array.of(1, 2, 3, 4);
    addInto(t, 1, Float32Array.of(10, 20));
    expect(Array.from(t)).toEqual([1, 12, 23, 4]);
    divideInPlace(t, 2);
    expect(Array.from(t)).toEqual([0.5, 6, 11.5, 2]);
  });

  it('checksum changes with a single bit and matches identical buffers', () => {
    const a = new Float32Array(1000).map((_, i) => Math.sin(i));
    const b = a.slice();
    expect(checksum(a)).toBe(checksum(b));
    const bits = new Uint32Array(b.buffer);
    bits[500]! ^= 1;
    expect(checksum(a)).not.toBe(checksum(b));
    expect(maxAbsDiff(a, b)).toBeGreaterThan(0);
  });
});
