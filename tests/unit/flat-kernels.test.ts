import { describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, adamStep, createAdamState, type AdamState } from '../../src/worker/adam.js';
import { allocator, KernelArena } from '../../src/shared/kernel-arena.js';
import { FLAT_WASM } from '../../src/shared/kernels/flat-wasm.js';
// @ts-expect-error: a plain .mjs dev tool without type declarations
import { assemble } from '../../src/shared/kernels/assemble.mjs';

/** Values across many magnitudes, signs, exact zeros and float32 subnormals. */
function spread(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const next = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return new Float32Array(n).map(() => {
    const r = next();
    if (r < 0.03) return 0;
    if (r < 0.06) return (next() - 0.5) * 2e-39;
    return (next() - 0.5) * 10 ** (next() * 12 - 6);
  });
}

const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('Adam SIMD kernel', () => {
  it('ships the bytes its WebAssembly text assembles to', async () => {
    const bytes: Buffer = await assemble('flat');
    expect(Buffer.from(FLAT_WASM, 'base64').equals(bytes)).toBe(true);
  });

  for (const n of [1, 3, 4, 5, 17, 4099]) {
    it(`gives the JavaScript sweep's bits exactly (n = ${n}, 6 steps)`, () => {
      const arena = KernelArena.create([n, n, n, n]);
      expect(arena).not.toBeNull();
      const alloc = allocator(arena);
      const init = spread(n, n);
      const pw = alloc(n);
      pw.set(init);
      const sw: AdamState = { ...createAdamState(0), m: alloc(n), v: alloc(n) };
      const gw = alloc(n);
      // The kernel path must really be taken, or this test would compare the reference with itself.
      expect(KernelArena.holding(pw, gw, sw.m, sw.v)).toBe(arena);
      const pj = init.slice();
      const sj = createAdamState(n);
      for (let step = 0; step < 6; step++) {
        const g = spread(n, 1000 + step);
        gw.set(g);
        const h = { ...ADAM_DEFAULTS, lr: 10 ** -(step % 4) };
        adamStep(pw, gw, sw, h, 37 + step);
        adamStep(pj, g, sj, h, 37 + step);
        expect(bits(pw).equals(bits(pj))).toBe(true);
        expect(bits(sw.m).equals(bits(sj.m))).toBe(true);
        expect(bits(sw.v).equals(bits(sj.v))).toBe(true);
      }
      // And it moved the weights: the comparison above is not between two untouched buffers.
      expect(bits(pw).equals(bits(init))).toBe(false);
    });
  }

  it('holds only its own aligned buffers, and falls back to plain arrays when full or too large', () => {
    const arena = KernelArena.create([8, 8])!;
    const a = arena.alloc(8)!;
    const b = arena.alloc(8)!;
    expect(arena.alloc(100_000)).toBeNull();
    expect(KernelArena.holding(a, b)).toBe(arena);
    expect(KernelArena.holding(a, new Float32Array(8))).toBeNull();
    expect(KernelArena.holding(a.subarray(1), b)).toBeNull();
    expect(KernelArena.holding(new Float32Array(8))).toBeNull();
    expect(KernelArena.create([2 ** 31])).toBeNull();
    const plain = allocator(null)(5);
    expect(plain).toBeInstanceOf(Float32Array);
    expect(KernelArena.holding(plain)).toBeNull();
  });
});
