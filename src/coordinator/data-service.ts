/**
 * The data service: holds the training split and cuts each rank's share of a planned step out of
 * it. Workers receive ready-made batches, so they need neither the dataset nor the sampler.
 */
import type { Dataset, Job } from '../jobs/job.js';
import { inputSize } from '../jobs/job.js';
import { epochOrder, rankShare, type PlannedStep } from '../shared/sampler.js';

export interface RankBatch {
  x: Float32Array;
  y: Float32Array;
  count: number;
  indices: Uint32Array;
}

export class DataService {
  private readonly width: number;
  private order: { epoch: number; order: Uint32Array } | null = null;

  constructor(private readonly data: Dataset, private readonly job: Job, private readonly seed: number) {
    this.width = inputSize(job);
  }

  get size(): number {
    return this.data.size;
  }

  private orderFor(epoch: number): Uint32Array {
    if (this.order?.epoch !== epoch) this.order = { epoch, order: epochOrder(this.data.size, this.seed, epoch) };
    return this.order.order;
  }

  batch(p: PlannedStep, rank: number): RankBatch {
    const share = rankShare(p, rank);
    const idx = this.orderFor(p.epoch).subarray(share.start, share.start + share.length);
    const w = this.width;
    const k = this.job.outputSize;
    const x = new Float32Array(idx.length * w);
    const y = new Float32Array(idx.length * k);
    idx.forEach((src, i) => {
      x.set(this.data.x.subarray(src * w, (src + 1) * w), i * w);
      y.set(this.data.y.subarray(src * k, (src + 1) * k), i * k);
    });
    return { x, y, count: idx.length, indices: idx };
  }
}
