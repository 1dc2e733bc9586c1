/**
 * Recursive doubling (latency-optimal, for small buffers): log2(P) pairwise exchange rounds over
 * the mesh links, each rank adding its partner's whole buffer, with ranks beyond the largest power
 * of two P folded in first and served last (allreduce-plan.ts doublingPlan).
 */
import type { Span } from '../kernels/flat.js';
import type { AllreduceCall, AllreduceOp, CollectiveState } from './algorithm.js';
import { doublingPlan, type DoublingPlan } from './allreduce-plan.js';
import type { MeshExchange } from './mesh-exchange.js';

/**
 * Runs `core` among the P core ranks with the extra ranks folded around it: an extra rank sends
 * its buffer to its core partner (round 0) and receives the result from it (the last round); a
 * core rank with an extra partner adds that buffer first and sends its result back last.
 */
export async function withFolding(mesh: MeshExchange, state: CollectiveState, call: AllreduceCall, core: (plan: DoublingPlan) => Promise<void>): Promise<void> {
  const { buf, seq, codec } = call;
  const plan = doublingPlan(state.rank, state.worldSize);
  const last = 2 * plan.rounds + 1;
  const all: Span = { start: 0, length: buf.length };
  if (plan.foldInto !== null) {
    await mesh.sendSpan(plan.foldInto, seq, 0, buf, all, codec, false);
    mesh.apply(await mesh.receive(plan.foldInto, seq, last, all, codec), buf, codec, false);
    return;
  }
  if (plan.foldFrom !== null) mesh.apply(await mesh.receive(plan.foldFrom, seq, 0, all, codec), buf, codec, true);
  await core(plan);
  if (plan.foldFrom !== null) await mesh.sendSpan(plan.foldFrom, seq, last, buf, all, codec, false);
}

/**
 * The shape both doubling algorithms share: extra ranks folded around a core exchange among the
 * P core ranks, whose partners per round the plan gives.
 */
export abstract class FoldedExchange implements AllreduceOp {
  constructor(protected readonly state: CollectiveState, protected readonly mesh: MeshExchange) {}

  start(call: AllreduceCall, done: (err: Error | null) => void): void {
    withFolding(this.mesh, this.state, call, (plan) => this.exchange(call, plan.partners)).then(() => done(null), (err: Error) => done(err));
  }

  forget(): void {}

  /** One core rank's rounds with `partners` (one per round). */
  protected abstract exchange(call: AllreduceCall, partners: readonly number[]): Promise<void>;
}

/** Recursive doubling of one rank over its mesh links. */
export class RecursiveDoubling extends FoldedExchange {
  protected async exchange(call: AllreduceCall, partners: readonly number[]): Promise<void> {
    const { buf, seq, codec } = call;
    const { mesh } = this;
    const all: Span = { start: 0, length: buf.length };
    for (let k = 0; k < partners.length; k++) {
      const partner = partners[k]!;
      // Both partners round (fp16) and send the same operands, and IEEE addition is commutative,
      // so both hold bit-identical sums after the round: a + b == b + a exactly. A partner's
      // values are added only after this rank's own send has gone out (sends are views of `buf`).
      const [, frames] = await Promise.all([mesh.sendSpan(partner, seq, k + 1, buf, all, codec, true), mesh.receive(partner, seq, k + 1, all, codec)]);
      mesh.apply(frames, buf, codec, true);
    }
    // Every core rank rounds its final sum, so all ranks (extra ones included) hold the same bits.
    codec.round(buf);
  }
}
