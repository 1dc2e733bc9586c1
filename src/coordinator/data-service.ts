/**
 * The data service: holds the training split and cuts each rank's share of each step out of it,
 * following the distributed sampler. Workers receive ready-made batches, so they need neither the
 * dataset nor the sampler.
 */
import type { Dataset, Job } from '../jobs/job.js';
import { inputSize } from '../jobs/job.js';
import { epochOrder, rankIndices, stepsPerEpoch, type SamplerSpec } from '../shared/sampler.js';

export interface RankBatch {
  x: Float32Array;
  y: Float32Array;
  count: number;
  indices: Uint32Array;
}

export class DataService {
  readonly spec: SamplerSpec;
  readonly stepsPerEpoch: number;
  private readonly width: number;
  private order: { epoch: number; order: Uint32Array } | null = null;

  constructor(private readonly data: Dataset, private readonly job: Job, batchSize: number, worldSize: number, seed: number) {
    this.spec = { datasetSize: data.size, batchSize, worldSize, seed };
    this.stepsPerEpoch = stepsPerEpoch(this.spec);
    this.width = inputSize(job);
  }

  private orderFor(epoch: number): Uint32Array {
    if (this.order?.epoch !== epoch) this.order = { epoch, order: epochOrder(this.spec, epoch) };
    return this.order.order;
  }

  batch(epoch: number, step: number, rank: number): RankBatch {
    const idx = rankIndices(this.spec, this.orderFor(epoch), step, rank);
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
