import { describe, expect, it } from 'vitest';
import { addF16Into, decodeF16Into, encodeF16, encodeF16InPlace, f16ToF32, f32BitsToF16, payloadU16 } from '../../src/shared/collective/fp16.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toHalf(x: number): number {
  f32[0] = x;
  return f32BitsToF16(u32[0]!);
}

describe('float16 conversion', () => {
  it('encodes landmark values exactly', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(65504)).toBe(0x7bff); // largest finite half
    expect(toHalf(65520)).toBe(0x7c00); // halfway past it rounds to Infinity
    expect(toHalf(-Infinity)).toBe(0xfc00);
    expect(toHalf(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(toHalf(2 ** -25)).toBe(0x0000); // tie between 0 and 2^-24 goes to even (0)
    expect(toHalf(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 ulps goes to even (2)
    expect(toHalf(-0)).toBe(0x8000);
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00); // tie, even significand stays
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, odd significand rounds up
    expect(Number.isNaN(f16ToF32(toHalf(NaN)))).toBe(true);
  });

  it('round-trips every half-precision value', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = f16ToF32(h);
      if (Number.isNaN(x)) continue;
      expect(toHalf(x)).toBe(h);
    }
  });

  it('rounds random float32 values to the nearest half', () => {
    let seed = 12345;
    for (let k = 0; k < 20000; k++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const x = Math.fround(((seed / 2 ** 32) * 2 - 1) * 2 ** ((k % 40) - 26));
      const h = toHalf(x);
      const d = Math.abs(f16ToF32(h) - x);
      // No neighbouring half is strictly closer (neighbours of h in magnitude: h-1 and h+1).
      for (const nb of [h - 1, h + 1]) {
        if ((nb & 0x7fff) > 0x7bff || nb < 0 || (nb & 0x8000) !== (h & 0x8000)) continue;
        expect(d).toBeLessThanOrEqual(Math.abs(f16ToF32(nb) - x));
      }
    }
  });

  it('encodes, decodes and adds arrays; in-place encoding leaves exactly what receivers decode', () => {
    const src = Float32Array.of(0.1, -3.3, 1000.7, 7);
    const enc = new Uint16Array(4);
    encodeF16(src, enc);
    const dec = new Float32Array(6);
    decodeF16Into(enc, dec, 2);
    expect(Array.from(dec.subarray(2))).toEqual(Array.from(enc, (h) => f16ToF32(h)));
    const acc = Float32Array.of(1, 1, 1, 1);
    addF16Into(enc, acc, 0);
    expect(acc[3]).toBe(8);
    const copy = src.slice();
    encodeF16InPlace(copy, enc);
    expect(Array.from(copy)).toEqual(Array.from(dec.subarray(2)));
  });

  it('reads unaligned payloads by copying', () => {
    const raw = Buffer.alloc(7);
    raw.writeUInt16LE(0x3c00, 1);
    raw.writeUInt16LE(0xc000, 3);
    expect(Array.from(payloadU16(raw.subarray(1, 5)))).toEqual([0x3c00, 0xc000]);
  });
});
