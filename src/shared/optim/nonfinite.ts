/**
 * Non-finite guard on the all-reduced buffer. Every rank holds bit-identical reduced values, so
 * deciding on them (not on a rank's own gradient) makes every rank decide the same: all skip the
 * update, or all abort.
 */
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import type { NonFinitePolicy } from '../protocol/protocol.js';
import { KernelArena } from '../kernels/kernel-arena.js';

/**
 * True when every value is finite. Sums the values in double precision: float32 values are at most
 * about 3.4e38, so no sum of them can overflow a double (that would take over 1e269 of them), and
 * the sum is finite exactly when every value is (NaN and ±Infinity propagate; +Inf + -Inf is NaN).
 * x - x is NaN exactly for NaN and ±Infinity. Two independent accumulators over the two halves
 * keep the loop free of a single add-latency chain and branches: twice as fast as testing each
 * value, and this runs over every gradient every step.
 */
export function allFinite(buf: Float32Array): boolean {
  // In a KernelArena the first n - n mod 4 values are checked by the SIMD kernel (about 5× faster).
  const arena = KernelArena.holding(buf);
  const simd = arena ? buf.length - (buf.length % 4) : 0;
  if (arena && simd > 0 && arena.kernels.finite(buf.byteOffset, simd) === 0) return false;
  const rest = buf.subarray(simd);
  const n = rest.length;
  const half = n >> 1;
  let a = 0;
  let b = 0;
  for (let i = 0; i < half; i++) {
    a += rest[i]!;
    b += rest[i + half]!;
  }
  if (n & 1) a += rest[n - 1]!;
  const s = a + b;
  return s - s === 0;
}

/**
 * Decides a step's fate from its reduced buffer: false = apply the update; true = skip it
 * (policy skip); throws RT_NON_FINITE under policy abort.
 */
export function skipNonFinite(reduced: Float32Array, policy: NonFinitePolicy, step: number): boolean {
  if (allFinite(reduced)) return false;
  if (policy === 'abort') throw new RingtrainError(ErrorCodes.NON_FINITE, `step ${step}: the all-reduced loss or gradient is not finite (--on-nonfinite abort); lower --lr or check the data`);
  return true;
}
