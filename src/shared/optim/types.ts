/**
 * The optimizer contract: an update rule on flat Float32Array buffers whose state is a set of
 * named per-parameter slots (tfjs's `${variable}/m`, torch.optim's `state_dict()['state']`) plus
 * a few named scalars. The state is plain data, so the protocol and checkpoints carry any
 * optimizer without knowing it; the rule itself is rebuilt from `{name, config}` on every rank.
 */

/** Hyper-parameters as flat named values: what `getConfig` returns and `fromConfig` takes. */
export type OptimizerConfig = Readonly<Record<string, number | boolean | string>>;

/** An optimizer's state: the shape TrainState carries (shared/protocol.ts) and checkpoints hold. */
export interface OptimState {
  /** The optimizer's name (`adam`, `adamw`, `sgd`). */
  optimizer: string;
  /** Its configuration when the state was written; a state is only adopted by the same one. */
  config: OptimizerConfig;
  /** One buffer per slot name, each as long as the parameters. */
  slots: Record<string, Float32Array>;
  /** Per-run counters such as Adam's step count and beta powers. */
  scalars: Record<string, number>;
}

/** Allocates a zeroed buffer of n values (a KernelArena's, where the SIMD kernels reach it). */
export type Alloc = (n: number) => Float32Array;

export interface Optimizer {
  readonly name: string;
  /** Names of the per-parameter slots this configuration keeps (may be none). */
  readonly slotNames: readonly string[];
  /** The configuration that rebuilds this optimizer with `fromConfig`, normalised. */
  getConfig(): OptimizerConfig;
  /** The learning rate of step `stepIndex` (the schedule applied to the base rate). */
  lrAt(stepIndex: number): number;
  /** A fresh state for `size` parameters: zero slots, initial scalars. */
  createState(size: number, alloc?: Alloc): OptimState;
  /**
   * One update in place: `grads / divisor` is the mean gradient (the all-reduced sum and the
   * global sample count; dividing inside the sweep saves a pass and gives the same quotient).
   * `stepIndex` is the run's step (identical on every rank) and drives the schedule.
   */
  step(params: Float32Array, grads: Float32Array, state: OptimState, stepIndex: number, divisor?: number): void;
  /**
   * A problem with `state` for `paramCount` parameters after `appliedSteps` steps, or null:
   * another optimizer or configuration, missing or mis-sized slots, non-finite values, scalars
   * inconsistent with each other or with the step.
   */
  checkState(state: OptimState, paramCount: number, appliedSteps: number): string | null;
}
