/**
 * Checks on a training state before the coordinator adopts it (at a pause, from a reconnecting
 * worker) or writes it (checkpoint, best model), and on a checkpoint's state when it is loaded.
 * A state comes from a worker, which may be buggy or hostile, or from a file, which may be
 * damaged: whatever it claims must fit the model, be finite, and lie within what this run can
 * have trained. Decisions only: the caller logs, refuses and evicts.
 */
import type { TrainState } from '../shared/protocol/protocol.js';
import type { Optimizer } from '../shared/optim/index.js';
import { checksum } from '../shared/kernels/flat.js';

/** What a state of this run can be. */
export interface StateBounds {
  /** Parameters of the model (the coordinator's own build). */
  paramCount: number;
  /** Training samples per epoch, and epochs in the run. */
  dataSize: number;
  epochs: number;
  /** The furthest step a state may have applied: steps the coordinator planned (sent batches for). */
  maxStep: number;
  /** The run's optimizer: it checks its own slots and scalars (sizes, finite values, counters). */
  optimizer: Pick<Optimizer, 'checkState'>;
}

/** The first reason `st` is not a state of this run, or null when it passes. */
export function checkState(st: TrainState, b: StateBounds): string | null {
  if (!Number.isSafeInteger(st.step) || st.step < 0) return `step ${st.step} is not a step count`;
  if (st.step > b.maxStep) return `step ${st.step} is beyond the ${b.maxStep} steps this run has planned`;
  if (!Number.isSafeInteger(st.epoch) || st.epoch < 0 || st.epoch > b.epochs) return `epoch ${st.epoch} is outside the run's ${b.epochs} epochs`;
  if (!Number.isSafeInteger(st.cursor) || st.cursor < 0 || st.cursor > b.dataSize) return `cursor ${st.cursor} is outside the epoch's ${b.dataSize} samples`;
  if (st.epoch === b.epochs && st.cursor !== 0) return `cursor ${st.cursor} after the last epoch`;
  if (st.params.length !== b.paramCount) return `${st.params.length} parameters where the model has ${b.paramCount}`;
  const bad = firstNonFinite(st.params);
  if (bad >= 0) return `parameter ${bad} is ${st.params[bad]}`;
  const optim = b.optimizer.checkState(st.optim, b.paramCount, st.step);
  return optim === null ? null : `optimizer state: ${optim}`;
}

function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return i;
  return -1;
}

/**
 * Weight checksums of committed steps (the state after step s is keyed s + 1), kept bounded. Kept
 * in the checkpoint, so a restarted coordinator can tell a reconnecting worker's true state from
 * an invented one at the steps it recorded.
 */
export class ChecksumLog {
  private readonly byStep = new Map<number, string>();

  constructor(entries: readonly (readonly [number, string])[] = [], private readonly cap = 1024) {
    for (const [s, c] of entries) this.record(s, c);
  }

  /** Records the checksum every rank agreed on for the state after `steps` steps. */
  record(steps: number, sum: string): void {
    this.byStep.set(steps, sum);
    if (this.byStep.size > this.cap) this.byStep.delete(this.byStep.keys().next().value!);
  }

  /** The highest step recorded, or -1. */
  get frontier(): number {
    let max = -1;
    for (const s of this.byStep.keys()) max = Math.max(max, s);
    return max;
  }

  /** 'agrees' or 'differs' for a recorded step, 'unknown' otherwise. */
  verdict(st: TrainState): 'agrees' | 'differs' | 'unknown' {
    const want = this.byStep.get(st.step);
    if (want === undefined) return 'unknown';
    return checksum(st.params) === want ? 'agrees' : 'differs';
  }

  entries(): [number, string][] {
    return [...this.byStep.entries()];
  }
}
