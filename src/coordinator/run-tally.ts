/**
 * What committed steps add up to: the epoch's mean training loss, non-finite skips (a run whose
 * every update is skipped cannot learn, so too many in a row fail it), mean step timings and the
 * communication summary. Decisions and sums only; the executor logs and emits.
 */
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import type { StepTimings } from '../shared/protocol/protocol.js';
import type { CommittedStep } from './step-control.js';

/**
 * Communication of the slowest rank per step, summed over the run: all-reduce wall time, the part
 * the step waited for after compute, and the share hidden behind compute (gradient buckets).
 */
export interface CommSummary {
  allreduceMs: number;
  exposedMs: number;
  hiddenPct: number;
}

/** The step timings every worker reports (commMs is optional and summed apart). */
const TIMED = ['waitMs', 'computeMs', 'allreduceMs', 'updateMs'] as const;

export class RunTally {
  /** Loss × samples of the epoch so far, and the samples behind it (skipped steps carry no loss). */
  epochLossSum: number;
  epochSamples: number;
  nonFiniteSkips = 0;
  /** Skipped steps in a row. */
  private skipRun = 0;
  lastCommit: CommittedStep | null = null;
  private readonly timingSums: StepTimings = { waitMs: 0, computeMs: 0, allreduceMs: 0, updateMs: 0 };
  private timedSteps = 0;
  /** Slowest rank's all-reduce time per step, summed: in flight at all, and after compute only. */
  private commMs = 0;
  private exposedMs = 0;

  constructor(private readonly maxNonfiniteSkips: number, epochLossSum = 0, epochSamples = 0) {
    this.epochLossSum = epochLossSum;
    this.epochSamples = epochSamples;
  }

  /** Adds a committed step; throws RT_NON_FINITE after too many skipped steps in a row. */
  onCommit(commit: CommittedStep): void {
    this.lastCommit = commit;
    if (commit.skipped) {
      this.nonFiniteSkips++;
      if (++this.skipRun > this.maxNonfiniteSkips) {
        throw new RingtrainError(ErrorCodes.NON_FINITE, `${this.skipRun} steps in a row (up to step ${commit.step}) had a non-finite loss or gradient and were skipped (--max-nonfinite-skips ${this.maxNonfiniteSkips}): this run cannot learn; lower --lr or check the data`);
      }
    } else {
      this.skipRun = 0;
      this.epochLossSum += commit.loss * commit.samples;
      this.epochSamples += commit.samples;
    }
    for (const k of TIMED) this.timingSums[k] += commit.timings[k];
    this.timedSteps += 1;
    // A worker without gradient buckets reports no commMs: all of its all-reduce was exposed.
    this.commMs += commit.timings.commMs ?? commit.timings.allreduceMs;
    this.exposedMs += commit.timings.allreduceMs;
  }

  /** The epoch's mean training loss (NaN when every step was skipped); starts the next epoch. */
  endEpoch(): number {
    const trainLoss = this.epochSamples > 0 ? this.epochLossSum / this.epochSamples : NaN;
    this.epochLossSum = 0;
    this.epochSamples = 0;
    return trainLoss;
  }

  meanTimings(): StepTimings {
    const n = Math.max(1, this.timedSteps);
    const t = this.timingSums;
    return { waitMs: t.waitMs / n, computeMs: t.computeMs / n, allreduceMs: t.allreduceMs / n, updateMs: t.updateMs / n };
  }

  comm(): CommSummary {
    return { allreduceMs: this.commMs, exposedMs: this.exposedMs, hiddenPct: this.commMs > 0 ? (100 * Math.max(0, this.commMs - this.exposedMs)) / this.commMs : 0 };
  }
}
