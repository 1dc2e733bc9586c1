/**
 * `sgd` as torch.optim.SGD computes it (dampening 0): with weight decay g += wd * p; with momentum
 * buf = momentum * buf + g (buf = g on the first step, which this gives from a zero buffer) and
 * g = buf, or g += momentum * buf with nesterov; then p -= lr * g. Float32 with one rounding per
 * operation, in that order. Slot `momentum` only when momentum > 0; scalar `t` counts updates.
 *
 * Where the buffers share a KernelArena the sweep runs in WebAssembly SIMD (kernels/flat.wat `sgd`
 * and `sgdm`; bench:optim measures the gain); `sgdRange` below is the reference for the rest and
 * for plain arrays, with the same operations in the same order, so both give the same bits.
 */
import { KernelArena } from '../kernels/kernel-arena.js';
import { lrFactor, type LrSchedule } from './schedule.js';
import { scheduleOf } from './settings.js';
import { commonProblems, zeroSlots } from './state-checks.js';
import type { Alloc, OptimState, Optimizer, OptimizerConfig } from './types.js';

export class SgdOptimizer implements Optimizer {
  readonly name = 'sgd';
  readonly slotNames: readonly string[];
  private readonly schedule: LrSchedule;
  private readonly momentum: number;
  private readonly nesterov: boolean;
  private readonly weightDecay: number;

  /** `config` is normalised (settings.ts `optimizerConfig`). */
  constructor(private readonly config: OptimizerConfig) {
    this.schedule = scheduleOf(config);
    this.momentum = config['momentum'] as number;
    this.nesterov = config['nesterov'] === true;
    this.weightDecay = config['weightDecay'] as number;
    this.slotNames = this.momentum > 0 ? ['momentum'] : [];
  }

  getConfig(): OptimizerConfig {
    return this.config;
  }

  lrAt(stepIndex: number): number {
    return (this.config['lr'] as number) * lrFactor(this.schedule, stepIndex);
  }

  createState(size: number, alloc?: Alloc): OptimState {
    return { optimizer: this.name, config: this.config, slots: zeroSlots(this.slotNames, size, alloc), scalars: { t: 0 } };
  }

  step(params: Float32Array, grads: Float32Array, state: OptimState, stepIndex: number, divisor = 1): void {
    const f = Math.fround;
    const k: SgdScalars = { div: f(divisor), lr: f(this.lrAt(stepIndex)), wd: f(this.weightDecay), mu: f(this.momentum), nesterov: this.nesterov };
    const buf = state.slots['momentum'] ?? null;
    const n = params.length;
    const arena = buf ? KernelArena.holding(params, grads, buf) : KernelArena.holding(params, grads);
    const simd = arena ? n - (n % 4) : 0;
    if (arena && simd > 0) {
      const wdOn = k.wd !== 0 ? 1 : 0;
      if (buf) arena.kernels.sgdm(params.byteOffset, grads.byteOffset, buf.byteOffset, simd, k.div, k.lr, k.wd, wdOn, k.mu, k.nesterov ? 1 : 0);
      else arena.kernels.sgd(params.byteOffset, grads.byteOffset, simd, k.div, k.lr, k.wd, wdOn);
    }
    sgdRange(params, grads, buf, simd, n, k);
    state.scalars['t'] = (state.scalars['t'] ?? 0) + 1;
  }

  checkState(state: OptimState, paramCount: number, appliedSteps: number): string | null {
    const common = commonProblems(this, state, paramCount, ['t']);
    if (common) return common;
    const t = state.scalars['t']!;
    if (!Number.isInteger(t) || t < 0 || t > appliedSteps) return `sgd's step count t = ${t} must be an integer in [0, ${appliedSteps}] (the steps applied)`;
    return null;
  }
}

/** The step's scalars, each rounded to float32 as the kernel receives them. */
interface SgdScalars { div: number; lr: number; wd: number; mu: number; nesterov: boolean }

/** The reference sweep over [from, to), one float32 rounding per operation, in the kernel's order. */
function sgdRange(params: Float32Array, grads: Float32Array, buf: Float32Array | null, from: number, to: number, k: SgdScalars): void {
  const f = Math.fround;
  const { div, lr, wd, mu, nesterov } = k;
  for (let i = from; i < to; i++) {
    let g = f(grads[i]! / div);
    if (wd !== 0) g = f(g + f(wd * params[i]!));
    if (buf) {
      const b = f(f(mu * buf[i]!) + g);
      buf[i] = b;
      g = nesterov ? f(g + f(mu * b)) : b;
    }
    params[i] = params[i]! - f(lr * g);
  }
}
