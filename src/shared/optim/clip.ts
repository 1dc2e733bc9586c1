/**
 * Gradient clipping by global norm (torch.nn.utils.clip_grad_norm_). It runs on the all-reduced
 * buffer, which is identical on every rank, and sums squares in float64 in one fixed order, so
 * every rank computes the same norm to the bit and clips alike.
 */
import { KernelArena } from '../kernels/kernel-arena.js';

/** torch's guard against a zero norm; the same constant keeps the clip coefficient alike. */
const NORM_EPS = 1e-6;

/**
 * The L2 norm of the mean gradient `grads / divisor` (each quotient rounded to float32 as the
 * optimizers see it), its squares summed in float64 in this order: over the first n - n mod 4
 * values, four sums s0..s3 of the values at indices 0..3 mod 4, combined as (s0 + s1) + (s2 + s3);
 * then the last n mod 4 squares one by one. The SIMD kernel (kernels/flat.wat `sumsq`) keeps the
 * same order, so a rank with the kernel and one without agree to the bit.
 */
export function globalNorm(grads: Float32Array, divisor = 1): number {
  const f = Math.fround;
  const div = f(divisor);
  const n = grads.length;
  const body = n - (n % 4);
  const arena = KernelArena.holding(grads);
  let sum: number;
  if (arena && body > 0) {
    sum = arena.kernels.sumsq(grads.byteOffset, body, div);
  } else {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < body; i += 4) {
      const g0 = f(grads[i]! / div);
      const g1 = f(grads[i + 1]! / div);
      const g2 = f(grads[i + 2]! / div);
      const g3 = f(grads[i + 3]! / div);
      s0 += g0 * g0;
      s1 += g1 * g1;
      s2 += g2 * g2;
      s3 += g3 * g3;
    }
    sum = (s0 + s1) + (s2 + s3);
  }
  for (let i = body; i < n; i++) {
    const g = f(grads[i]! / div);
    sum += g * g;
  }
  return Math.sqrt(sum);
}

/**
 * Clips the mean gradient to norm `maxNorm`. Returns the divisor the optimizer must use next and
 * the norm before clipping. Within the bound nothing is touched (torch multiplies by a clamped 1.0,
 * which changes no value), so an unclipped step keeps the exact bits of a run without clipping.
 * Beyond it the buffer becomes the clipped mean, float32(float32(g / divisor) * coef), and the
 * divisor returned is 1 (division by 1 is exact).
 */
export function clipGlobalNorm(grads: Float32Array, divisor: number, maxNorm: number): { divisor: number; norm: number } {
  const norm = globalNorm(grads, divisor);
  const coef = maxNorm / (norm + NORM_EPS);
  if (!(coef < 1)) return { divisor, norm };
  const f = Math.fround;
  const div = f(divisor);
  const c = f(coef);
  for (let i = 0; i < grads.length; i++) grads[i] = f(grads[i]! / div) * c;
  return { divisor: 1, norm };
}
