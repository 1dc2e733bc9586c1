/**
 * The data service: holds the training split and cuts each rank's share of a planned step out of
 * it. Ranks that hold the same split themselves (matching dataset fingerprint) receive only the
 * indices of their share and gather the rows with the same `gatherRows`; the others receive
 * ready-made rows and need neither the dataset nor the sampler.
 */
import type { Dataset, Job } from '../jobs/job.js';
import { inputSize } from '../jobs/job.js';
import { datasetFingerprint, gatherRows, type RowWidths } from '../shared/dataset.js';
import { epochOrder, rankShare, type PlannedStep } from '../shared/sampler.js';

export class DataService {
  private readonly widths: RowWidths;
  private order: { epoch: number; order: Uint32Array } | null = null;
  /** The split's fingerprint, computed once at start (a pass over the data), before any worker asks. */
  readonly fingerprint: string;

  constructor(private readonly data: Dataset, job: Job, private readonly seed: number) {
    this.widths = { input: inputSize(job), output: job.outputSize };
    this.fingerprint = datasetFingerprint(data, this.widths);
  }

  get size(): number {
    return this.data.size;
  }

  private orderFor(epoch: number): Uint32Array {
    if (this.order?.epoch !== epoch) this.order = { epoch, order: epochOrder(this.data.size, this.seed, epoch) };
    return this.order.order;
  }

  /** Positions in the training set of rank `rank`'s share of step `p` (a view; do not modify). */
  indices(p: PlannedStep, rank: number): Uint32Array {
    const share = rankShare(p, rank);
    return this.orderFor(p.epoch).subarray(share.start, share.start + share.length);
  }

  /** The rows at `indices`, for a rank that receives its batches streamed. */
  rows(indices: Uint32Array): { x: Float32Array; y: Float32Array } {
    return gatherRows(this.data, this.widths, indices);
  }
}
