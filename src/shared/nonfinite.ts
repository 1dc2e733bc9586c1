/**
 * Non-finite guard on the all-reduced buffer. Every rank holds bit-identical reduced values, so
 * deciding on them (not on a rank's own gradient) makes every rank decide the same: all skip the
 * update, or all abort.
 */
import { ErrorCodes, RingtrainError } from './errors.js';
import type { NonFinitePolicy } from './protocol.js';

/** True when every value is finite. */
export function allFinite(buf: Float32Array): boolean {
  for (let i = 0; i < buf.length; i++) {
    // x - x is NaN exactly for NaN and ±Infinity; cheaper than Number.isFinite in this loop.
    const v = buf[i]!;
    if (v - v !== 0) return false;
  }
  return true;
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
