/**
 * Adam on flat Float32Array buffers, in plain JavaScript. Running the update here instead of in
 * the tfjs engine makes it bit-reproducible: every rank gets the same averaged gradient from the
 * all-reduce and performs the same IEEE double arithmetic, so replicas stay bit-identical whatever
 * engine computed their gradients. Formula as in Kingma & Ba (and tf.train.adam).
 */

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export interface AdamState {
  m: Float32Array;
  v: Float32Array;
  /** Steps applied so far. */
  t: number;
  /** beta1^t and beta2^t, kept by repeated multiplication so no Math.pow rounding enters. */
  beta1Pow: number;
  beta2Pow: number;
}

export function createAdamState(size: number): AdamState {
  return { m: new Float32Array(size), v: new Float32Array(size), t: 0, beta1Pow: 1, beta2Pow: 1 };
}

/**
 * One Adam step: params -= lr * m̂ / (sqrt(v̂) + eps), in place. `grads` divided by `divisor` is
 * the mean gradient (the all-reduced sum and the global sample count); dividing here rather than
 * in a separate pass gives the same float32 quotient and saves a sweep over the buffer.
 */
export function adamStep(params: Float32Array, grads: Float32Array, s: AdamState, h: AdamHyper, divisor = 1): void {
  s.t += 1;
  s.beta1Pow *= h.beta1;
  s.beta2Pow *= h.beta2;
  const c1 = 1 / (1 - s.beta1Pow);
  const c2 = 1 / (1 - s.beta2Pow);
  const { m, v } = s;
  const b1 = h.beta1;
  const b2 = h.beta2;
  // Hoisted, but the same double values the formula computes per element, so results are bit-identical.
  const a1 = 1 - b1;
  const a2 = 1 - b2;
  const lr = h.lr;
  const eps = h.epsilon;
  const n = params.length;
  for (let i = 0; i < n; i++) {
    // fround: the quotient a separate divide pass would have stored in a Float32Array.
    const g = Math.fround(grads[i]! / divisor);
    // m and v are stored as float32; the update uses the stored (rounded) values.
    const mi = Math.fround(b1 * m[i]! + a1 * g);
    const vi = Math.fround(b2 * v[i]! + a2 * g * g);
    m[i] = mi;
    v[i] = vi;
    params[i] = params[i]! - (lr * (mi * c1)) / (Math.sqrt(vi * c2) + eps);
  }
}

/** tfjs's defaults, used unless a job overrides them. */
export const ADAM_DEFAULTS = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;
