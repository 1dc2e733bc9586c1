/**
 * Step control: gathers every rank's report of a step, and only commits the step when all ranks
 * agree. Losses came out of the all-reduce, so they must be equal; checksums, when requested,
 * must be equal too. A disagreement is a hard error naming the ranks, never a warning.
 */
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import type { StepDoneMsg, StepTimings } from '../shared/protocol/protocol.js';

export interface CommittedStep {
  step: number;
  loss: number;
  samples: number;
  checksums: (string | null)[];
  /** Every rank skipped this step's update (non-finite reduced values). */
  skipped: boolean;
  /** Slowest rank's timings (the step waits for it). */
  timings: StepTimings;
  /** Every rank's timings, indexed by rank (the dashboard's worker table). */
  rankTimings: StepTimings[];
}

export class StepCollector {
  private readonly reports: (StepDoneMsg | null)[];
  private received = 0;

  constructor(readonly step: number, private readonly worldSize: number) {
    this.reports = new Array<StepDoneMsg | null>(worldSize).fill(null);
  }

  get complete(): boolean {
    return this.received === this.worldSize;
  }

  /** Records a rank's report; returns true once every rank has reported. */
  add(rank: number, msg: StepDoneMsg): boolean {
    if (msg.step !== this.step) throw new RingtrainError(ErrorCodes.UNEXPECTED_MESSAGE, `rank ${rank} reported step ${msg.step} while step ${this.step} is in flight`);
    if (this.reports[rank]) throw new RingtrainError(ErrorCodes.UNEXPECTED_MESSAGE, `rank ${rank} reported step ${msg.step} twice`);
    this.reports[rank] = msg;
    this.received++;
    return this.received === this.worldSize;
  }

  /** Missing ranks, for stall messages. */
  missing(): number[] {
    return this.reports.flatMap((r, i) => (r ? [] : [i]));
  }

  commit(): CommittedStep {
    const reports = this.reports.map((r, i) => {
      if (!r) throw new RingtrainError(ErrorCodes.INTERNAL, `step ${this.step} committed without rank ${i}`);
      return r;
    });
    const first = reports[0]!;
    const checksums = reports.map((r) => r.checksum);
    if (first.checksum !== null) {
      const diverged = checksums.flatMap((c, i) => (c === first.checksum ? [] : [i]));
      if (diverged.length > 0) {
        throw new RingtrainError(ErrorCodes.REPLICA_DIVERGED, `replica weights diverged at step ${this.step}: rank(s) ${diverged.join(', ')} differ from rank 0 (${checksums.join(', ')})`);
      }
    }
    const badLoss = reports.findIndex((r) => !Object.is(r.loss, first.loss) || r.samples !== first.samples || r.skipped !== first.skipped);
    if (badLoss >= 0) {
      throw new RingtrainError(ErrorCodes.REPLICA_DIVERGED, `ranks disagree on the all-reduced loss at step ${this.step}: rank 0 ${first.loss}/${first.samples}, rank ${badLoss} ${reports[badLoss]!.loss}/${reports[badLoss]!.samples}`);
    }
    const slowest = reports.reduce((a, b) => (b.timings.computeMs + b.timings.allreduceMs > a.timings.computeMs + a.timings.allreduceMs ? b : a));
    return { step: this.step, loss: first.loss, samples: first.samples, checksums, skipped: first.skipped, timings: slowest.timings, rankTimings: reports.map((r) => r.timings) };
  }
}
