/**
 * Gradient accumulation and bucketing: K micro-batches summed locally give the big batch's summed
 * gradient within float tolerance, and gradient buckets cover the fusion buffer exactly.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { Trainer } from '../../src/shared/engine/trainer.js';
import { BUILTIN_JOBS } from '../../src/jobs/registry.js';
import { planBuckets, hiddenCommMs } from '../../src/shared/collective/buckets.js';
import { maxAbsDiff } from '../../src/shared/kernels/flat.js';

describe('gradient accumulation', () => {
  it.each([[1], [3], [4], [7]])('micro-batches of %i sum to the gradient of one 28-sample batch', async (micro) => {
    await tf.setBackend('cpu');
    const job = BUILTIN_JOBS['regression-mlp']!;
    const data = await job.loadData(7);
    const trainer = Trainer.create(tf, job, 7);
    const n = 28;
    const x = data.train.x.subarray(0, n * 10);
    const y = data.train.y.subarray(0, n);
    const big = new Float32Array(trainer.paramCount);
    const lossBig = await trainer.computeGradients(x, y, n, big);
    const acc = new Float32Array(trainer.paramCount).fill(NaN);
    const seen: number[] = [];
    const lossAcc = await trainer.computeGradients(x, y, n, acc, { microBatch: micro, onVar: (i) => seen.push(i) });
    expect(seen.sort()).toEqual(trainer.params.map((_, i) => i));
    let scale = 0;
    for (const g of big) scale = Math.max(scale, Math.abs(g));
    expect(maxAbsDiff(acc, big)).toBeLessThanOrEqual(1e-5 * scale + 1e-6);
    expect(Math.abs(lossAcc - lossBig)).toBeLessThanOrEqual(1e-5 * Math.abs(lossBig));
    trainer.dispose();
  });
});

describe('gradient buckets', () => {
  it('cut at variable boundaries, cover the buffer in order, and isolate the exact tail', () => {
    const sizes = [100, 5, 300, 7, 1, 2];
    for (const exact of [false, true]) {
      const b = planBuckets(sizes, 100, exact);
      let next = 0;
      let v = 0;
      for (const k of b) {
        expect(k.start).toBe(next);
        expect(k.firstVar).toBe(v);
        expect(k.length).toBe(sizes.slice(k.firstVar, k.endVar).reduce((a, c) => a + c, 0));
        next += k.length;
        v = k.endVar;
      }
      expect(next).toBe(sizes.reduce((a, c) => a + c, 0));
      expect(v).toBe(sizes.length);
      const last = b[b.length - 1]!;
      expect(last.exact).toBe(exact);
      if (exact) expect([last.firstVar, last.endVar]).toEqual([5, 6]);
      expect(b.slice(0, -1).every((k) => !k.exact)).toBe(true);
    }
    expect(hiddenCommMs(10, 4)).toBe(6);
    expect(hiddenCommMs(3, 4)).toBe(0);
  });
});
