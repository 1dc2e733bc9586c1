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

/** One Adam step: params -= lr * m̂ / (sqrt(v̂) + eps), in place. `grads` is the mean gradient. */
export function adamStep(params: Float32Array, grads: Float32Array, s: AdamState, h: AdamHyper): void {
  s.t += 1;
  s.beta1Pow *= h.beta1;
  s.beta2Pow *= h.beta2;
  const c1 = 1 / (1 - s.beta1Pow);
  const c2 = 1 / (1 - s.beta2Pow);
  const { m, v } = s;
  const b1 = h.beta1;
  const b2 = h.beta2;
  const n = params.length;
  for (let i = 0; i < n; i++) {
    const g = grads[i]!;
    const mi = b1 * m[i]! + (1 - b1) * g;
    const vi = b2 * v[i]! + (1 - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] = params[i]! - (h.lr * (m[i]! * c1)) / (Math.sqrt(v[i]! * c2) + h.epsilon);
  }
}

/** tfjs's defaults, used unless a job overrides them. */
export const ADAM_DEFAULTS = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;
