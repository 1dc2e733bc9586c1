/**
 * IEEE 754 half precision for the compressed gradient path: float32 → float16 with
 * round-to-nearest-even (overflow → ±Infinity, NaN stays NaN), and float16 → float32 by table.
 * Pure functions, so every rank that encodes or decodes the same values gets the same bits.
 */

import { alignedBytes } from '../protocol/codec.js';

const F16_TO_F32 = buildDecodeTable();

function decodeOne(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function buildDecodeTable(): Float32Array {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = decodeOne(h);
  return t;
}

/** The float16 bit pattern nearest to the float32 with bit pattern `x` (ties to even). */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // re-biased exponent (127 → 15)
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal (or zero) in half precision: shift the significand, implicit bit included.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the significand correctly bumps the exponent (up to Infinity).
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** The float32 value of a float16 bit pattern. */
export function f16ToF32(h: number): number {
  return F16_TO_F32[h & 0xffff]!;
}

/** Encodes `src` into `dst` (same length) as float16 bit patterns. */
export function encodeF16(src: Float32Array, dst: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = f32BitsToF16(bits[i]!);
}

/** Decodes float16 bit patterns into `dst`, starting at `offset`. */
export function decodeF16Into(src: Uint16Array, dst: Float32Array, offset: number): void {
  for (let i = 0; i < src.length; i++) dst[offset + i] = F16_TO_F32[src[i]!]!;
}

/** Adds decoded float16 values into `dst` starting at `offset` (float32 addition). */
export function addF16Into(src: Uint16Array, dst: Float32Array, offset: number): void {
  for (let i = 0; i < src.length; i++) dst[offset + i]! += F16_TO_F32[src[i]!]!;
}

/**
 * Encodes `src` and overwrites it with the values the encoding decodes to, so the sender holds
 * exactly what every receiver will decode (replicas stay bit-identical under compression).
 */
export function encodeF16InPlace(src: Float32Array, dst: Uint16Array): void {
  encodeF16(src, dst);
  decodeF16Into(dst, src, 0);
}

/** A Uint16Array over a payload; copies only when the payload is not 2-byte aligned. */
export function payloadU16(payload: Buffer): Uint16Array {
  const a = alignedBytes(payload, 2);
  return new Uint16Array(a.buffer, a.byteOffset, a.length >>> 1);
}
