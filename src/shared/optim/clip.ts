/**
 * Gradient clipping by global norm (torch.nn.utils.clip_grad_norm_). It runs on the all-reduced
 * buffer, which is identical on every rank, and sums squares in float64 in index order, so every
 * rank computes the same norm to the bit and clips alike.
 */

/** torch's guard against a zero norm; the same constant keeps the clip coefficient alike. */
const NORM_EPS = 1e-6;

/**
 * The L2 norm of the mean gradient `grads / divisor` (each quotient rounded to float32 as the
 * optimizers see it), summed in float64 from index 0 upward.
 */
export function globalNorm(grads: Float32Array, divisor = 1): number {
  const f = Math.fround;
  const div = f(divisor);
  let sum = 0;
  for (let i = 0; i < grads.length; i++) {
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
