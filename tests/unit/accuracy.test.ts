/**
 * Accuracy of one-column targets (class ids): compared with the argmax of the prediction, not with
 * the argmax of a one-column row (always 0, which would report the share of class 0).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { accuracyMode, evaluate } from '../../src/jobs/evaluate.js';
import type { Job } from '../../src/shared/job/job.js';

function classJob(outputSize: number, units: number): Job {
  return {
    name: 'ids', inputShape: [3], outputSize, accuracy: true,
    createModel: (t) => t.sequential({ layers: [t.layers.dense({ inputShape: [3], units, useBias: false, kernelInitializer: 'identity' })] }),
    loadData: () => { throw new Error('unused'); },
    loss: (t, _y, p) => t.sum(p, -1),
  };
}

describe('accuracy', () => {
  it('reads one-column targets as class ids', async () => {
    await tf.setBackend('cpu');
    // The identity model predicts argmax(x); labels are right for 4 of 6 rows.
    const x = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0.2, 0.9, 0.1, 0.9, 0.1, 0, 0, 0.3, 0.8]);
    const y = new Float32Array([0, 1, 2, 1, 2, 0]);
    const job = classJob(1, 3);
    expect(accuracyMode(job)).toBe('class-ids');
    const r = evaluate(tf, job, job.createModel(tf), { x, y, size: 6 });
    expect(r.accuracy).toBeCloseTo(4 / 6, 6);
  });

  it('still compares argmax with argmax for one-hot targets', async () => {
    await tf.setBackend('cpu');
    const x = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    const y = new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 1]);
    const job = classJob(3, 3);
    expect(accuracyMode(job)).toBe('argmax');
    expect(evaluate(tf, job, job.createModel(tf), { x, y, size: 3 }).accuracy).toBeCloseTo(2 / 3, 6);
  });
});
