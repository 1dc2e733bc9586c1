/**
 * Trainer.computeGradients reads gradients back per variable or in one concatenated read. What each writes must be bit for bit what tfjs's own data() returns for the
 * same pass, on every call (no stale values after the weights change), both when writing and when
 * accumulating micro-batches. A pass padded to a fixed shape (rows weighted 0) gives the gradient
 * of the unpadded pass.
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type * as TF from '@tensorflow/tfjs';
import { selectEngine } from '../../src/shared/engine/backend.js';
import { Trainer } from '../../src/shared/engine/trainer.js';
import { BUILTIN_JOBS } from '../../src/jobs/registry.js';
import { addInto, maxAbsDiff } from '../../src/shared/kernels/flat.js';
import type { ReadBack } from '../../src/shared/engine/step-plan.js';

const silent = pino({ level: 'silent' });
const job = BUILTIN_JOBS['mnist-mlp']!;

describe('gradient read-back', () => {
  it.each([
    ['wasm', 'each'], ['wasm', 'one'], ['cpu', 'each'], ['cpu', 'one'],
  ] as const)('on %s, read %s, gives exactly what data() gives, call after call', async (name, readBack: ReadBack) => {
    const engine = await selectEngine(name, silent);
    const tf = engine.tf;
    const data = await job.loadData(5);
    const trainer = Trainer.create(tf, job, 5, { readBack });
    expect(trainer.plan.readBack).toBe(readBack);
    const vars = trainer.model.trainableWeights.map((w) => w.read() as TF.Variable);
    const w = data.train.x.length / data.train.size;
    const k = job.outputSize;

    /** The same pass read back the ordinary way: data() on each gradient. */
    const reference = async (first: number, count: number, out: Float32Array, accumulate: boolean): Promise<number> => {
      const xs = tf.tensor(data.train.x.subarray(first * w, (first + count) * w), [count, ...job.inputShape], 'float32');
      const ys = tf.tensor(data.train.y.subarray(first * k, (first + count) * k), [count, k], 'float32');
      const { value, grads } = tf.variableGrads(() => tf.sum(job.loss(tf, ys, trainer.model.apply(xs, { training: true }) as TF.Tensor)) as TF.Scalar, vars);
      for (const [i, v] of vars.entries()) {
        const d = (await grads[v.name]!.data()) as Float32Array;
        if (accumulate) addInto(out, trainer.params[i]!.offset, d);
        else out.set(d, trainer.params[i]!.offset);
      }
      const loss = (await value.data())[0]!;
      tf.dispose([xs, ys, value, ...Object.values(grads)]);
      return loss;
    };

    for (let round = 0; round < 3; round++) {
      const first = round * 24;
      const got = new Float32Array(trainer.paramCount).fill(NaN);
      const seen: number[] = [];
      const loss = await trainer.computeGradients(data.train.x.subarray(first * w, (first + 24) * w), data.train.y.subarray(first * k, (first + 24) * k), 24, got, { microBatch: 10, onVar: (i) => seen.push(i) });
      const want = new Float32Array(trainer.paramCount);
      const wantLoss = (await reference(first, 10, want, false)) + (await reference(first + 10, 10, want, true)) + (await reference(first + 20, 4, want, true));
      expect(seen).toEqual(trainer.params.map((_, i) => i));
      expect(Buffer.compare(Buffer.from(got.buffer), Buffer.from(want.buffer))).toBe(0);
      expect(Math.abs(loss - wantLoss)).toBeLessThanOrEqual(1e-5 * Math.abs(wantLoss));
      // New weights: the next round must see gradients of these, not leftovers of the last.
      trainer.setWeights(trainer.getWeights().map((x, i) => x + Math.sin(i) * 0.01));
    }
    trainer.dispose();
  });

  it('padded to a fixed shape, a short pass gives the unpadded gradient and loss', async () => {
    const engine = await selectEngine('cpu', silent);
    const data = await job.loadData(6);
    const plain = Trainer.create(engine.tf, job, 6, { fixedShapes: false });
    const fixed = Trainer.create(engine.tf, job, 6, { fixedShapes: true });
    const w = data.train.x.length / data.train.size;
    const k = job.outputSize;
    // 7 samples in passes of 4: the second pass (3 samples) is padded to 4 rows; then a batch of
    // 3 alone padded to 16.
    for (const [count, micro] of [[7, 4], [3, 16]] as const) {
      const x = data.train.x.subarray(0, count * w);
      const y = data.train.y.subarray(0, count * k);
      const a = new Float32Array(plain.paramCount);
      const b = new Float32Array(fixed.paramCount).fill(NaN);
      const la = await plain.computeGradients(x, y, count, a, { microBatch: micro });
      const lb = await fixed.computeGradients(x, y, count, b, { microBatch: micro });
      let scale = 0;
      for (const g of a) scale = Math.max(scale, Math.abs(g));
      expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-6 * scale);
      expect(Math.abs(la - lb)).toBeLessThanOrEqual(1e-6 * Math.abs(la));
    }
    plain.dispose();
    fixed.dispose();
  });
});
