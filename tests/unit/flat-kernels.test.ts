import { describe, expect, it } from 'vitest';
import { ADAM_DEFAULTS, adamStep, createAdamState, type AdamState } from '../../src/shared/optim/index.js';
import { addInto } from '../../src/shared/kernels/flat.js';
import { allocator, KernelArena } from '../../src/shared/kernels/kernel-arena.js';
import { FLAT_WASM } from '../../src/shared/kernels/flat-wasm.js';
// @ts-expect-error: a plain .mjs dev tool without type declarations
import { assemble } from '../../src/shared/kernels/assemble.mjs';
import { bits, spread as spreadValues } from '../helpers/values.js';

/** Values across many magnitudes, signs, exact zeros and float32 subnormals. */
const spread = (n: number, seed: number): Float32Array => spreadValues(n, seed, { zeros: 0.03, negativeZeros: 0, subnormals: 0.03, decades: [-6, 6] });

describe('flat SIMD kernels', () => {
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

describe('addInto on a KernelArena buffer', () => {
  // Lengths below the kernel's threshold, at it, not a multiple of 4, and past the scratch room
  // (65,536 values), so the piece-by-piece path runs; offsets unaligned on purpose.
  for (const [n, offset] of [[5, 3], [64, 0], [67, 1], [1000, 7], [200_003, 13]] as const) {
    it(`gives the JavaScript loop's sums bit for bit (n = ${n}, offset ${offset})`, () => {
      const len = n + offset + 5;
      const arena = KernelArena.create([len])!;
      const target = arena.alloc(len)!;
      target.set(spread(len, 3));
      const plain = target.slice();
      // A view into a socket-like buffer outside the arena.
      const src = new Float32Array(Buffer.alloc(n * 4 + 8).buffer, 8, n);
      src.set(spread(n, 4));
      expect(KernelArena.of(target)).toBe(arena);
      addInto(target, offset, src);
      addInto(plain, offset, src);
      expect(bits(target).equals(bits(plain))).toBe(true);
      // The values around the span are untouched, and the span did change.
      expect(bits(target.subarray(0, offset)).equals(bits(spread(len, 3).subarray(0, offset)))).toBe(true);
      expect(bits(target).equals(bits(spread(len, 3)))).toBe(false);
    });
  }

  it('adds into a view at an offset inside the arena, and leaves out-of-range spans to the loop', () => {
    const arena = KernelArena.create([300])!;
    const whole = arena.alloc(300)!;
    const view = whole.subarray(100, 200);
    addInto(view, 10, new Float32Array(80).fill(1));
    expect(whole[109]).toBe(0);
    expect(whole[110]).toBe(1);
    expect(whole[189]).toBe(1);
    expect(whole[190]).toBe(0);
    // 80 values from index 50 of a 100-value view: past its end; only the first 50 land, as with a plain array.
    addInto(view, 50, new Float32Array(80).fill(2));
    expect(whole[149]).toBe(1);
    expect(whole[150]).toBe(3);
    expect(whole[199]).toBe(2);
    expect(whole[200]).toBe(0);
  });
});

describe('KernelArena.addBytes (received bytes at any alignment)', () => {
  // Byte shifts 0..3 put the values off the float32 grid; lengths cover the scalar path, the
  // kernel with a remainder, and more than the scratch room (65,536 values).
  for (const n of [5, 67, 1000, 70_001]) {
    for (const shift of [0, 1, 2, 3]) {
      it(`gives the JavaScript loop's sums bit for bit from inside and outside the arena (n = ${n}, byte shift ${shift})`, () => {
        const arena = KernelArena.create([n + 9, n + 9])!;
        const target = arena.alloc(n + 9)!;
        const original = spread(n + 9, 5);
        target.set(original);
        const values = spread(n, 6);
        const want = original.slice();
        for (let i = 0; i < n; i++) want[7 + i]! += values[i]!;
        const raw = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
        // Inside: a read buffer in the same memory (as a ring link's is); outside: a socket's own.
        const inside = arena.allocBytes(n * 4 + 16)!;
        expect(inside.buffer).toBe(target.buffer);
        const outside = Buffer.alloc(n * 4 + 16);
        for (const room of [inside, outside]) {
          const bytes = room.subarray(shift, shift + n * 4);
          raw.copy(bytes);
          target.set(original);
          expect(arena.addBytes(target, 7, bytes)).toBe(true);
          expect(bits(target).equals(bits(want))).toBe(true);
        }
      });
    }
  }

  it('refuses values past the end of the target and leaves it untouched', () => {
    const arena = KernelArena.create([100])!;
    const target = arena.alloc(100)!;
    expect(arena.addBytes(target, 90, Buffer.alloc(11 * 4, 1))).toBe(false);
    expect(arena.addBytes(target, -1, Buffer.alloc(4, 1))).toBe(false);
    expect(target.every((v) => v === 0)).toBe(true);
  });

  it('hands out byte buffers from the same memory without overlapping the value buffers', () => {
    const arena = KernelArena.create([64, 64])!;
    const a = arena.alloc(64)!;
    const bytes = arena.allocBytes(100)!;
    const b = arena.alloc(64)!;
    bytes.fill(0xff);
    expect(a.every((v) => v === 0) && b.every((v) => v === 0)).toBe(true);
    expect(bytes.byteOffset % 16).toBe(0);
    expect(arena.allocBytes(1 << 20)).toBeNull();
  });
});
