/**
 * The Adam sweep on flat Float32Array buffers, outside the tfjs engine. Running the update here
 * makes it bit-reproducible: every rank gets the same averaged gradient from the all-reduce and
 * performs the same IEEE float32 operations, so replicas stay bit-identical whatever engine
 * computed their gradients. Formula as in Kingma & Ba (and tf.train.adam); with `decay` < 1 it is
 * AdamW's (decoupled weight decay: the weights are scaled before the update, as torch.optim.AdamW).
 */
import { KernelArena } from '../kernels/kernel-arena.js';

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** AdamW's factor 1 - lr * weightDecay on the weights before the update; absent: 1 (Adam). */
  decay?: number;
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

/** The step's scalars, each rounded to float32 as the kernel receives them. */
interface AdamScalars { div: number; b1: number; a1: number; b2: number; a2: number; lr: number; c1: number; c2: number; eps: number; decay: number | null }

/**
 * One Adam step: params = params - lr * m̂ / (sqrt(v̂) + eps) in place (AdamW: params * decay - ...). `grads` divided by `divisor` is
 * the mean gradient (the all-reduced sum and the global sample count); dividing here rather than
 * in a separate pass gives the same float32 quotient and saves a sweep over the buffer.
 *
 * Arithmetic is float32, one rounding per operation, as tfjs's own Adam computes. When all four
 * buffers live in one KernelArena the sweep runs in WebAssembly SIMD (shared/kernels/flat.wat, about 5×
 * the JavaScript loop); otherwise, and for the last n mod 4 values, `adamRange` below does the
 * same operations in the same order, so both paths give the same bits (flat-kernels.test.ts).
 */
export function adamStep(params: Float32Array, grads: Float32Array, s: AdamState, h: AdamHyper, divisor = 1): void {
  s.t += 1;
  s.beta1Pow *= h.beta1;
  s.beta2Pow *= h.beta2;
  const f = Math.fround;
  const k: AdamScalars = {
    div: f(divisor), b1: f(h.beta1), a1: f(1 - h.beta1), b2: f(h.beta2), a2: f(1 - h.beta2), lr: f(h.lr),
    c1: f(1 / (1 - s.beta1Pow)), c2: f(1 / (1 - s.beta2Pow)), eps: f(h.epsilon), decay: h.decay === undefined ? null : f(h.decay),
  };
  const n = params.length;
  const arena = KernelArena.holding(params, grads, s.m, s.v);
  const simd = arena ? n - (n % 4) : 0;
  if (arena && simd > 0) {
    const at = [params.byteOffset, grads.byteOffset, s.m.byteOffset, s.v.byteOffset, simd] as const;
    // Adam keeps a kernel without the decay product, which would cost it time for nothing.
    if (k.decay === null) arena.kernels.adam(...at, k.div, k.b1, k.a1, k.b2, k.a2, k.lr, k.c1, k.c2, k.eps);
    else arena.kernels.adamw(...at, k.div, k.b1, k.a1, k.b2, k.a2, k.lr, k.c1, k.c2, k.eps, k.decay);
  }
  adamRange(params, grads, s.m, s.v, simd, n, k);
}

/**
 * The reference sweep over [from, to): every operation rounded to float32 (Math.fround of the
 * double result is the float32 result for +, -, *, / and sqrt, since a double has more than
 * twice float32's precision), in the kernel's order.
 */
function adamRange(params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array, from: number, to: number, k: AdamScalars): void {
  const f = Math.fround;
  const { div, b1, a1, b2, a2, lr, c1, c2, eps, decay } = k;
  for (let i = from; i < to; i++) {
    const g = f(grads[i]! / div);
    const mi = f(f(b1 * m[i]!) + f(a1 * g));
    const vi = f(f(b2 * v[i]!) + f(f(a2 * g) * g));
    m[i] = mi;
    v[i] = vi;
    const p = decay === null ? params[i]! : f(params[i]! * decay);
    params[i] = p - f(f(lr * f(mi * c1)) / f(f(Math.sqrt(f(vi * c2))) + eps));
  }
}

/** tfjs's defaults, the adam optimizer's unless configured otherwise. */
export const ADAM_DEFAULTS = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;
