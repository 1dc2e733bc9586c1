/**
 * A replica's training state outside the engine: flat weights, Adam moments, the number of
 * applied steps and the sampler position. It survives generations and coordinator restarts, and
 * is what a worker reports when membership changes.
 */
import type { TrainState } from '../shared/protocol.js';
import type { AdamState } from './adam.js';

export class Replica {
  constructor(
    readonly params: Float32Array,
    readonly adam: AdamState,
    public step: number,
    public epoch: number,
    public cursor: number,
  ) {}

  /**
   * Adopts a state (copies, so later in-place updates never alias the message's buffers), into
   * buffers from `alloc`: a KernelArena's, where the update runs in place (generation.ts).
   */
  static fromState(s: TrainState, alloc: (n: number) => Float32Array = (n) => new Float32Array(n)): Replica {
    const copy = (a: Float32Array): Float32Array => {
      const b = alloc(a.length);
      b.set(a);
      return b;
    };
    return new Replica(copy(s.params), { m: copy(s.m), v: copy(s.v), t: s.adamT, beta1Pow: s.beta1Pow, beta2Pow: s.beta2Pow }, s.step, s.epoch, s.cursor);
  }

  /** A snapshot that stays valid while training continues. */
  toState(): TrainState {
    const a = this.adam;
    return {
      step: this.step, epoch: this.epoch, cursor: this.cursor, params: this.params.slice(), m: a.m.slice(), v: a.v.slice(),
      adamT: a.t, beta1Pow: a.beta1Pow, beta2Pow: a.beta2Pow,
    };
  }
}

/** The state a run starts from: given weights, zero moments, nothing consumed. */
export function initialState(params: Float32Array): TrainState {
  return {
    step: 0, epoch: 0, cursor: 0, params, m: new Float32Array(params.length), v: new Float32Array(params.length),
    adamT: 0, beta1Pow: 1, beta2Pow: 1,
  };
}
