/**
 * The wire codecs: float32 sends views (no copy) and stores received values unchanged; float16
 * rounds to nearest even, and with roundInPlace leaves the sender holding what receivers decode;
 * adding into a KernelArena buffer from unaligned bytes gives the same bits as a plain buffer.
 */
import { describe, expect, it } from 'vitest';
import { KernelArena } from '../../src/shared/kernels/kernel-arena.js';
import { f16Codec, f32Codec } from '../../src/shared/collective/wire-codec.js';
import { firstBitDifference, r16, realInputs } from '../helpers/allreduce-reference.js';

describe('float32 codec', () => {
  it('sends a view of the chunk, and copies or adds received values', () => {
    const buf = Float32Array.of(1, 2, 3, 4);
    const bytes = f32Codec.encode(buf.subarray(1, 3), true);
    expect([bytes.buffer === buf.buffer, bytes.byteOffset, bytes.byteLength]).toEqual([true, 4, 8]);
    expect([...buf]).toEqual([1, 2, 3, 4]);
    const into = new Float32Array(4).fill(10);
    f32Codec.apply(into, 1, Buffer.from(bytes), true);
    f32Codec.apply(into, 3, Buffer.from(new Uint8Array(Float32Array.of(0.5).buffer)), false);
    expect([...into]).toEqual([10, 12, 13, 0.5]);
    expect(f32Codec.storesRaw).toBe(true);
  });

  it('adds unaligned bytes into a KernelArena buffer with the same bits as into a plain buffer', () => {
    const [a, b] = realInputs(2, 1001);
    const arena = KernelArena.create([1001])!;
    const inArena = arena.alloc(1001)!;
    inArena.set(a!);
    const plain = a!.slice();
    expect(f32Codec.takesUnaligned(inArena)).toBe(true);
    expect(f32Codec.takesUnaligned(plain)).toBe(false);
    // The payload one byte off the 4-byte grid, as it may lie in a socket's read buffer.
    const raw = Buffer.alloc(1000 * 4 + 1);
    Buffer.from(b!.buffer, 4, 1000 * 4).copy(raw, 1);
    f32Codec.apply(inArena, 1, raw.subarray(1), true);
    f32Codec.apply(plain, 1, Buffer.from(Buffer.from(b!.buffer, 4, 1000 * 4)), true);
    expect(firstBitDifference(inArena, plain)).toBe(-1);
    expect(inArena[1]).toBe(Math.fround(a![1]! + b![1]!));
  });
});

describe('float16 codec', () => {
  it('encodes to half the bytes; roundInPlace leaves the sender with the decoded values', () => {
    const src = Float32Array.of(1 / 3, 1000.1, -2.5e-6, 70000);
    const kept = src.slice();
    const plain = f16Codec.encode(kept, false);
    expect(plain.byteLength).toBe(8);
    expect(firstBitDifference(kept, src)).toBe(-1);
    const rounded = src.slice();
    expect(Buffer.compare(Buffer.from(f16Codec.encode(rounded, true)), Buffer.from(plain))).toBe(0);
    expect([...rounded]).toEqual([...src].map(r16));
    expect(rounded[3]).toBe(Infinity);
    const decoded = new Float32Array(4);
    f16Codec.apply(decoded, 0, Buffer.from(plain), false);
    expect(firstBitDifference(decoded, rounded)).toBe(-1);
    f16Codec.apply(decoded, 0, Buffer.from(plain), true);
    expect([...decoded]).toEqual([...rounded].map((x) => Math.fround(x + x)));
  });

  it('rounds a whole buffer, and float32 leaves it alone', () => {
    const [a] = realInputs(1, 100);
    const f16 = a!.slice();
    f16Codec.round(f16);
    expect([...f16]).toEqual([...a!].map(r16));
    const f32 = a!.slice();
    f32Codec.round(f32);
    expect(firstBitDifference(f32, a!)).toBe(-1);
    expect([f16Codec.storesRaw, f16Codec.takesUnaligned(a!)]).toEqual([false, false]);
  });
});
