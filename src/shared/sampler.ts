/**
 * Distributed sampling, as torch's DistributedSampler does it but without padding: one seeded
 * permutation per epoch; global step s takes the next `batchSize * worldSize` indices, and rank r
 * takes its contiguous share. The short last batch is split as evenly as possible (some ranks may
 * get none), so every sample is used exactly once per epoch and the all-reduce divides by the
 * true global count.
 */
import { mixSeed, permutation } from './rng.js';
import { segmentBounds } from './flat.js';

export interface SamplerSpec {
  datasetSize: number;
  batchSize: number;
  worldSize: number;
  seed: number;
}

export function stepsPerEpoch(s: SamplerSpec): number {
  return Math.ceil(s.datasetSize / (s.batchSize * s.worldSize));
}

/** The permutation of sample indices for one epoch; the same for the same (seed, epoch). */
export function epochOrder(s: SamplerSpec, epoch: number): Uint32Array {
  return permutation(s.datasetSize, mixSeed(s.seed, epoch));
}

/** Indices of rank `rank`'s share of global step `step` of an epoch whose order is `order`. */
export function rankIndices(s: SamplerSpec, order: Uint32Array, step: number, rank: number): Uint32Array {
  const global = s.batchSize * s.worldSize;
  const begin = step * global;
  const count = Math.min(global, s.datasetSize - begin);
  if (count <= 0) return new Uint32Array(0);
  const share = segmentBounds(count, s.worldSize, rank);
  return order.subarray(begin + share.start, begin + share.start + share.length);
}
