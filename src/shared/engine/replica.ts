/**
 * A replica's training state outside the engine: flat weights, the optimizer's state (named slots
 * and scalars), the number of applied steps and the sampler position. It survives generations and
 * coordinator restarts, and is what a worker reports when membership changes.
 */
import type { TrainState } from '../protocol/protocol.js';
import type { Alloc, OptimState, Optimizer } from '../optim/index.js';

export class Replica {
  constructor(
    readonly params: Float32Array,
    readonly optim: OptimState,
    public step: number,
    public epoch: number,
    public cursor: number,
  ) {}

  /**
   * Adopts a state (copies, so later in-place updates never alias the message's buffers), into
   * buffers from `alloc`: a KernelArena's, where the update runs in place (generation.ts).
   */
  static fromState(s: TrainState, alloc: Alloc = (n) => new Float32Array(n)): Replica {
    const copy = (a: Float32Array): Float32Array => {
      const b = alloc(a.length);
      b.set(a);
      return b;
    };
    const o = s.optim;
    const slots = Object.fromEntries(Object.entries(o.slots).map(([name, a]) => [name, copy(a)]));
    return new Replica(copy(s.params), { optimizer: o.optimizer, config: o.config, slots, scalars: { ...o.scalars } }, s.step, s.epoch, s.cursor);
  }

  /** A snapshot that stays valid while training continues. */
  toState(): TrainState {
    const o = this.optim;
    const slots = Object.fromEntries(Object.entries(o.slots).map(([name, a]) => [name, a.slice()]));
    return {
      step: this.step, epoch: this.epoch, cursor: this.cursor, params: this.params.slice(),
      optim: { optimizer: o.optimizer, config: o.config, slots, scalars: { ...o.scalars } },
    };
  }
}

/** The state a run starts from: given weights, the optimizer's fresh state, nothing consumed. */
export function initialState(params: Float32Array, optimizer: Optimizer): TrainState {
  return { step: 0, epoch: 0, cursor: 0, params, optim: optimizer.createState(params.length) };
}
