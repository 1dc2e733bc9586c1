/**
 * `sgd` as torch.optim.SGD computes it (dampening 0): with weight decay g += wd * p; with momentum
 * buf = momentum * buf + g (buf = g on the first step, which this gives from a zero buffer) and
 * g = buf, or g += momentum * buf with nesterov; then p -= lr * g. Float32 with one rounding per
 * operation, in that order. Slot `momentum` only when momentum > 0; scalar `t` counts updates.
 *
 * A plain JavaScript loop: measured against the Adam kernel (bench/optim.ts), it is cheaper per
 * value than Adam's SIMD sweep, so a kernel of its own would save little.
 */
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
    const div = f(divisor);
    const lr = f(this.lrAt(stepIndex));
    const wd = f(this.weightDecay);
    const mu = f(this.momentum);
    const buf = state.slots['momentum'];
    const n = params.length;
    for (let i = 0; i < n; i++) {
      let g = f(grads[i]! / div);
      if (wd !== 0) g = f(g + f(wd * params[i]!));
      if (buf) {
        const b = f(f(mu * buf[i]!) + g);
        buf[i] = b;
        g = this.nesterov ? f(g + f(mu * b)) : b;
      }
      params[i] = params[i]! - f(lr * g);
    }
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
