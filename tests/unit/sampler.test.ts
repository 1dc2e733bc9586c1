import { describe, expect, it } from 'vitest';
import { epochOrder, rankIndices, stepsPerEpoch, type SamplerSpec } from '../../src/shared/sampler.js';

function epochIndices(spec: SamplerSpec, epoch: number): { all: number[]; perStep: number[][] } {
  const order = epochOrder(spec, epoch);
  const all: number[] = [];
  const perStep: number[][] = [];
  for (let s = 0; s < stepsPerEpoch(spec); s++) {
    const step: number[] = [];
    for (let r = 0; r < spec.worldSize; r++) step.push(...rankIndices(spec, order, s, r));
    perStep.push(step);
    all.push(...step);
  }
  return { all, perStep };
}

describe('distributed sampler', () => {
  it.each([
    { datasetSize: 1000, batchSize: 32, worldSize: 4, seed: 1 },
    { datasetSize: 1001, batchSize: 7, worldSize: 3, seed: 2 },
    { datasetSize: 5, batchSize: 4, worldSize: 8, seed: 3 },
    { datasetSize: 64, batchSize: 8, worldSize: 1, seed: 4 },
  ])('uses every index exactly once per epoch across ranks ($datasetSize samples, $worldSize ranks)', (spec) => {
    for (const epoch of [0, 1]) {
      const { all } = epochIndices(spec, epoch);
      expect(all.length).toBe(spec.datasetSize);
      expect(new Set(all).size).toBe(spec.datasetSize);
      expect(Math.min(...all)).toBe(0);
      expect(Math.max(...all)).toBe(spec.datasetSize - 1);
    }
  });

  it('gives a different order each epoch and the same order for the same seed', () => {
    const spec = { datasetSize: 500, batchSize: 10, worldSize: 2, seed: 42 };
    const e0 = Array.from(epochOrder(spec, 0));
    const e1 = Array.from(epochOrder(spec, 1));
    expect(e0).not.toEqual(e1);
    expect(Array.from(epochOrder({ ...spec }, 0))).toEqual(e0);
    expect(Array.from(epochOrder({ ...spec, seed: 43 }, 0))).not.toEqual(e0);
  });

  it('global batches do not depend on how they are split across ranks', () => {
    // Same global batch (3 ranks x 8 vs 1 rank x 24): same samples in every step.
    const three = epochIndices({ datasetSize: 100, batchSize: 8, worldSize: 3, seed: 9 }, 0).perStep;
    const one = epochIndices({ datasetSize: 100, batchSize: 24, worldSize: 1, seed: 9 }, 0).perStep;
    expect(three).toEqual(one);
  });

  it('splits a short last batch as evenly as possible', () => {
    const spec = { datasetSize: 10, batchSize: 4, worldSize: 3, seed: 0 };
    const order = epochOrder(spec, 0);
    expect(stepsPerEpoch(spec)).toBe(1);
    expect([0, 1, 2].map((r) => rankIndices(spec, order, 0, r).length)).toEqual([4, 3, 3]);
  });
});
