/**
 * `adam` and `adamw` as Optimizers: slots `m` and `v`, scalars `t`, `beta1Pow`, `beta2Pow`.
 * Both run the same sweep (adam-step.ts, SIMD where the buffers share a KernelArena); AdamW's
 * decoupled weight decay is the sweep's `decay` factor, 1 - lr * weightDecay on the weights before
 * the update, as torch.optim.AdamW applies it.
 */
import { adamStep, type AdamState } from './adam-step.js';
import { lrFactor, type LrSchedule } from './schedule.js';
import { scheduleOf } from './settings.js';
import { commonProblems, repeatedProduct, zeroSlots } from './state-checks.js';
import type { Alloc, OptimState, Optimizer, OptimizerConfig } from './types.js';

const SLOTS = ['m', 'v'] as const;

export class AdamOptimizer implements Optimizer {
  readonly slotNames = SLOTS;
  private readonly schedule: LrSchedule;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;

  /** `config` is normalised (settings.ts `optimizerConfig`). */
  constructor(readonly name: 'adam' | 'adamw', private readonly config: OptimizerConfig) {
    this.schedule = scheduleOf(config);
    this.beta1 = config['beta1'] as number;
    this.beta2 = config['beta2'] as number;
    this.epsilon = config['epsilon'] as number;
    this.weightDecay = name === 'adamw' ? (config['weightDecay'] as number) : 0;
  }

  getConfig(): OptimizerConfig {
    return this.config;
  }

  lrAt(stepIndex: number): number {
    return (this.config['lr'] as number) * lrFactor(this.schedule, stepIndex);
  }

  createState(size: number, alloc?: Alloc): OptimState {
    return { optimizer: this.name, config: this.config, slots: zeroSlots(SLOTS, size, alloc), scalars: { t: 0, beta1Pow: 1, beta2Pow: 1 } };
  }

  step(params: Float32Array, grads: Float32Array, state: OptimState, stepIndex: number, divisor = 1): void {
    const sc = state.scalars;
    const s: AdamState = { m: state.slots['m']!, v: state.slots['v']!, t: sc['t']!, beta1Pow: sc['beta1Pow']!, beta2Pow: sc['beta2Pow']! };
    const lr = this.lrAt(stepIndex);
    // Adam's sweep takes no decay at all rather than a factor of 1, so its arithmetic is untouched.
    const hyper = { lr, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, ...(this.weightDecay > 0 ? { decay: 1 - lr * this.weightDecay } : {}) };
    adamStep(params, grads, s, hyper, divisor);
    sc['t'] = s.t;
    sc['beta1Pow'] = s.beta1Pow;
    sc['beta2Pow'] = s.beta2Pow;
  }

  checkState(state: OptimState, paramCount: number, appliedSteps: number): string | null {
    const common = commonProblems(this, state, paramCount, ['t', 'beta1Pow', 'beta2Pow']);
    if (common) return common;
    const { t, beta1Pow, beta2Pow } = state.scalars as { t: number; beta1Pow: number; beta2Pow: number };
    if (!Number.isInteger(t) || t < 0 || t > appliedSteps) return `adam's step count t = ${t} must be an integer in [0, ${appliedSteps}] (the steps applied)`;
    // The powers are kept by repeated multiplication (no Math.pow rounding), so they are exact to recompute.
    if (beta1Pow !== repeatedProduct(this.beta1, t) || beta2Pow !== repeatedProduct(this.beta2, t)) return `adam's beta powers do not match its step count t = ${t}`;
    const v = state.slots['v']!;
    for (let i = 0; i < v.length; i++) if (!(v[i]! >= 0)) return `adam's second moment v[${i}] = ${v[i]} is negative`;
    return null;
  }
}
