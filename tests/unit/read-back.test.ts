/**
 * Trainer.computeGradients on wasm copies gradients straight out of the engine's heap. What it
 * writes must be bit for bit what tfjs's own data() returns for the same pass, on every call (no
 * stale values after the weights change), both when writing and when accumulating micro-batches.
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type * as TF from '@tensorflow/tfjs';
import { selectEngine } from '../../src/worker/backend.js';
import { Trainer } from '../../src/worker/trainer.js';
import { BUILTIN_JOBS } from '../../src/jobs/registry.js';
import { addInto } from '../../src/shared/flat.js';

const silent = pino({ level: 'silent' });

describe('gradient read-back', () => {
  it.each([['wasm'], ['cpu']] as const)('on %s gives exactly what data() gives, call after call', async (name) => {
    const engine = await selectEngine(name, silent);
    const tf = engine.tf;
    const job = BUILTIN_JOBS['mnist-mlp']!;
    const data = await job.loadData(5);
    const trainer = Trainer.create(tf, job, 5);
    const vars = trainer.model.trainableWeights.map((w) => w.read() as TF.Variable);
    const w = data.train.x.length / data.train.size;
    const k = job.outputSize;

    /** The same pass read back the ordinary way: data() on each gradient. */
    const reference = async (first: number, count: number, out: Float32Array, accumulate: boolean): Promise<void> => {
      const xs = tf.tensor(data.train.x.subarray(first * w, (first + count) * w), [count, ...job.inputShape], 'float32');
      const ys = tf.tensor(data.train.y.subarray(first * k, (first + count) * k), [count, k], 'float32');
      const { value, grads } = tf.variableGrads(() => tf.sum(job.loss(tf, ys, trainer.model.apply(xs, { training: true }) as TF.Tensor)) as TF.Scalar, vars);
      for (const [i, v] of vars.entries()) {
        const d = (await grads[v.name]!.data()) as Float32Array;
        if (accumulate) addInto(out, trainer.params[i]!.offset, d);
        else out.set(d, trainer.params[i]!.offset);
      }
      tf.dispose([xs, ys, value, ...Object.values(grads)]);
    };

    for (let round = 0; round < 3; round++) {
      const first = round * 24;
      const got = new Float32Array(trainer.paramCount).fill(NaN);
      const seen: number[] = [];
      await trainer.computeGradients(data.train.x.subarray(first * w, (first + 24) * w), data.train.y.subarray(first * k, (first + 24) * k), 24, got, { microBatch: 10, onVar: (i) => seen.push(i) });
      const want = new Float32Array(trainer.paramCount);
      await reference(first, 10, want, false);
      await reference(first + 10, 10, want, true);
      await reference(first + 20, 4, want, true);
      expect(seen).toEqual(trainer.params.map((_, i) => i));
      expect(Buffer.compare(Buffer.from(got.buffer), Buffer.from(want.buffer))).toBe(0);
      // New weights: the next round must see gradients of these, not leftovers of the last.
      trainer.setWeights(trainer.getWeights().map((x, i) => x + Math.sin(i) * 0.01));
    }
    trainer.dispose();
  });
});
