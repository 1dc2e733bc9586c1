import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { ADAM_DEFAULTS, adamStep, createAdamState } from '../../src/shared/optim/index.js';
import { divideInPlace, maxAbsDiff } from '../../src/shared/kernels/flat.js';

describe('flat Adam', () => {
  it('matches tf.train.adam on the same gradients', async () => {
    await tf.setBackend('cpu');
    const n = 257;
    const init = new Float32Array(n).map((_, i) => Math.sin(i) * 0.5);
    const variable = tf.variable(tf.tensor1d(init));
    const opt = tf.train.adam(0.01, ADAM_DEFAULTS.beta1, ADAM_DEFAULTS.beta2, ADAM_DEFAULTS.epsilon);
    const params = init.slice();
    const state = createAdamState(n);
    for (let step = 0; step < 20; step++) {
      const g = new Float32Array(n).map((_, i) => Math.cos(i * 0.37 + step) * (1 + (i % 5)));
      opt.applyGradients([{ name: variable.name, tensor: tf.tensor1d(g) }]);
      adamStep(params, g, state, { lr: 0.01, ...ADAM_DEFAULTS });
    }
    expect(maxAbsDiff(params, variable.dataSync() as Float32Array)).toBeLessThan(1e-6);
    expect(state.t).toBe(20);
  });

  it('is deterministic: same inputs, same bits', () => {
    const run = (): Float32Array => {
      const p = new Float32Array(64).fill(0.25);
      const s = createAdamState(64);
      for (let k = 0; k < 5; k++) adamStep(p, new Float32Array(64).map((_, i) => (i - 32) / (k + 1)), s, { lr: 1e-3, ...ADAM_DEFAULTS });
      return p;
    };
    expect(Buffer.from(run().buffer).equals(Buffer.from(run().buffer))).toBe(true);
  });

  it('dividing by the sample count inside the sweep gives the same bits as dividing first', () => {
    const n = 333;
    const a = new Float32Array(n).map((_, i) => Math.sin(i * 0.7) * 0.3);
    const b = a.slice();
    const sa = createAdamState(n);
    const sb = createAdamState(n);
    for (let k = 0; k < 7; k++) {
      const summed = new Float32Array(n).map((_, i) => Math.cos(i * 1.3 + k) * (3 + (i % 11)));
      const samples = 17 + k * 5;
      const mean = summed.slice();
      divideInPlace(mean, samples);
      adamStep(a, mean, sa, { lr: 1e-3, ...ADAM_DEFAULTS });
      adamStep(b, summed, sb, { lr: 1e-3, ...ADAM_DEFAULTS }, samples);
    }
    expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(sa.v.buffer), Buffer.from(sb.v.buffer))).toBe(0);
  });
});
