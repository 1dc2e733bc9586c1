/**
 * The step pipeline of one generation, as decisions: which steps to send ahead (the prefetch
 * window), which reports to accept, when a step is complete and may be committed (every rank
 * reported it, in order), which of rank 0's states to take for evaluation and checkpoints, and
 * when the generation has reached its end or a step boundary. The executor sends the batches,
 * commits, evaluates and writes; this module only says what and when.
 */
import type { StepDoneMsg, TrainState } from '../shared/protocol/protocol.js';
import { endsEpoch, planStep, type PlannedStep, type Position } from '../shared/data/sampler.js';
import { StepCollector, type CommittedStep } from './step-control.js';
import { ReportGate } from './report-gate.js';

export interface PipelineRules {
  dataSize: number;
  /** Samples per rank per step (batch size × accumulation). */
  perRankStep: number;
  worldSize: number;
  epochs: number;
  checkpointEvery: number;
  checksumEvery: number;
  /** Steps sent beyond the next one to commit. */
  prefetchSteps: number;
}

/** A step to send to every rank, and what to ask of it. */
export interface Dispatch {
  p: PlannedStep;
  /** Rank 0 sends its state after this step (epoch end, last step, checkpoint). */
  wantState: boolean;
  /** Every rank reports its weight checksum after this step. */
  wantChecksum: boolean;
}

/** What became of a step report. */
export type ReportOutcome =
  | { kind: 'accepted' }
  | { kind: 'other-generation' }
  | { kind: 'drop'; why: string }
  | { kind: 'evict'; why: string };

export class StepPipeline {
  private pos: Position;
  private readonly collectors = new Map<number, StepCollector>();
  /** States rank 0 sent, by the number of steps they include. */
  private readonly states = new Map<number, TrainState>();
  /** Planned steps whose state (eval / checkpoint) is still to be handled. */
  private readonly needState = new Set<number>();
  private readonly gate: ReportGate;

  constructor(private readonly rules: PipelineRules, private readonly generation: number, start: Position) {
    this.pos = { step: start.step, epoch: start.epoch, cursor: start.cursor };
    this.gate = new ReportGate(rules.worldSize, start.step);
  }

  /** The step after `pos` for this generation's world size, or null when the run is done. */
  private after(pos: Position): PlannedStep | null {
    const r = this.rules;
    return planStep(pos, r.dataSize, r.perRankStep, r.worldSize, r.epochs);
  }

  /** Where the next step to send starts. */
  get position(): Position {
    return this.pos;
  }

  /** Steps to send now: up to the prefetch window past `committed`; none once a join is pending. */
  dispatch(committed: number, joinPending: boolean): Dispatch[] {
    const out: Dispatch[] = [];
    const r = this.rules;
    while (!joinPending && this.pos.step < committed + 1 + r.prefetchSteps) {
      const p = this.after(this.pos);
      if (!p) break;
      const last = this.after(p.next) === null;
      const wantState = endsEpoch(p) || last || (p.step + 1) % r.checkpointEvery === 0;
      if (wantState) this.needState.add(p.step);
      // Checksums are compared across replicas; a world of one has nothing to compare until the
      // last step, whose checksum vouches for the final state it sends. A state rank 0 sends for
      // a checkpoint is checked against the checksum all ranks agree on.
      const wantChecksum = last || wantState || (r.worldSize > 1 && (p.step + 1) % r.checksumEvery === 0);
      out.push({ p, wantState, wantChecksum });
      this.pos = p.next;
    }
    return out;
  }

  /**
   * At a step boundary everyone has reached (all sent steps committed, their states handled):
   * 'done' when no step is left, 'boundary' otherwise; null while steps are in flight.
   */
  boundary(committed: number): 'done' | 'boundary' | null {
    if (committed !== this.pos.step || this.needState.size > 0) return null;
    return this.after(this.pos) === null ? 'done' : 'boundary';
  }

  /** Judges a rank's step report; an accepted one is collected. */
  onReport(rank: number, msg: StepDoneMsg): ReportOutcome {
    if (msg.generation !== this.generation) return { kind: 'other-generation' };
    const verdict = this.gate.judge(rank, msg.step);
    if (verdict.action === 'drop') return { kind: 'drop', why: verdict.why };
    if (verdict.action === 'evict') return { kind: 'evict', why: verdict.why };
    if (msg.step >= this.pos.step) return { kind: 'evict', why: `rank ${rank} reported step ${msg.step}, which was never sent` };
    let c = this.collectors.get(msg.step);
    if (!c) {
      c = new StepCollector(msg.step, this.rules.worldSize);
      this.collectors.set(msg.step, c);
    }
    c.add(rank, msg);
    return { kind: 'accepted' };
  }

  /** Ranks that have not reported step `committed` when some have, else null. */
  missing(committed: number): number[] | null {
    return this.collectors.get(committed)?.missing() ?? null;
  }

  /** The commit of step `committed` once every rank reported it (throws when they disagree). */
  takeCommit(committed: number): CommittedStep | null {
    const c = this.collectors.get(committed);
    if (!c?.complete) return null;
    this.collectors.delete(committed);
    return c.commit();
  }

  /**
   * Rank 0's state: why it is refused (not asked for, or not where the planned step left the
   * sampler, or what `judge` says), else null and it is kept until its step is committed.
   */
  onState(st: TrainState, planned: (step: number) => PlannedStep | undefined, judge: (st: TrainState) => string | null): string | null {
    const p = planned(st.step - 1);
    const why = !this.needState.has(st.step - 1) || !p ? `a state after step ${st.step - 1}, which was not asked for`
      : st.epoch !== p.next.epoch || st.cursor !== p.next.cursor ? `epoch ${st.epoch} cursor ${st.cursor} where step ${p.step} ends at epoch ${p.next.epoch} cursor ${p.next.cursor}`
      : judge(st);
    if (why === null) this.states.set(st.step, st);
    return why;
  }

  /** The next state to handle, in step order, once its step is committed; else null. */
  takeState(committed: number): { step: number; state: TrainState } | null {
    let step = Infinity;
    for (const s of this.needState) step = Math.min(step, s);
    const st = this.states.get(step + 1);
    if (step >= committed || !st) return null;
    this.needState.delete(step);
    this.states.delete(step + 1);
    return { step, state: st };
  }
}
