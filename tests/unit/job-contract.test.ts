/**
 * The v2 job contract, checked before training: each way a declaration, a model or the data can
 * disagree is refused with RT_JOB_INVALID and a message naming the tensor, what the job declares
 * and what it got. Also: a v1 job reads as inputs x and outputs y, accuracy on int32 labels counts
 * right, and sparse cross-entropy equals the one-hot loss of the same logits.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JobV2, Split } from '../../src/shared/job/job.js';
import { specOf } from '../../src/shared/job/spec.js';
import { checkData, checkModel } from '../../src/shared/job/validate.js';
import { evaluate } from '../../src/jobs/evaluate.js';
import { mnistMlp } from '../../src/jobs/mnist-mlp.js';
import { regressionMlp } from '../../src/jobs/regression-mlp.js';
import { codeOf } from '../helpers/codes.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Two inputs (a 2×3 matrix and 4 features) and two outputs: 5 classes (int32 ids) and a 2-wide regression. */
function twoByTwo(over: Partial<JobV2> = {}): JobV2 {
  return {
    name: 'pair',
    inputs: [{ name: 'grid', shape: [2, 3] }, { name: 'extra', shape: [4] }],
    outputs: [
      { name: 'kind', shape: [], dtype: 'int32', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] },
      { name: 'where', shape: [2], loss: 'meanSquaredError' },
    ],
    createModel: (t) => {
      const a = t.input({ shape: [2, 3] });
      const b = t.input({ shape: [4] });
      const j = t.layers.concatenate().apply([t.layers.flatten().apply(a) as tf.SymbolicTensor, b]) as tf.SymbolicTensor;
      return t.model({ inputs: [a, b], outputs: [t.layers.dense({ units: 5 }).apply(j) as tf.SymbolicTensor, t.layers.dense({ units: 2 }).apply(j) as tf.SymbolicTensor] });
    },
    loadData: () => ({ train: rows(6), test: rows(3) }),
    ...over,
  };
}

function rows(n: number): Split {
  return {
    size: n,
    tensors: {
      grid: Float32Array.from({ length: n * 6 }, (_, i) => (i % 7) / 7),
      extra: Float32Array.from({ length: n * 4 }, (_, i) => (i % 5) / 5),
      kind: Int32Array.from({ length: n }, (_, i) => i % 5),
      where: Float32Array.from({ length: n * 2 }, (_, i) => i / 10),
    },
  };
}

/** The RT_JOB_INVALID message of `fn`, or a failure when it does not throw one. */
function refusal(fn: () => unknown): string {
  expect(codeOf(fn)).toBe('RT_JOB_INVALID');
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

describe('the v2 shape contract', () => {
  it('accepts a job whose model and data agree with its declarations', () => {
    const job = twoByTwo();
    const model = specOf(job).createModel(tf);
    expect(() => checkModel(job, model)).not.toThrow();
    expect(() => checkData(job, { train: rows(6), test: rows(3) }, { model })).not.toThrow();
    const r = evaluate(tf, job, model, rows(3));
    expect(Object.keys(r.outputs)).toEqual(['kind', 'where']);
    expect(r.loss).toBeCloseTo(r.outputs['kind']!.loss + r.outputs['where']!.loss, 5);
  });

  it('refuses declarations that cannot work, naming the tensor', () => {
    const cases: [Partial<JobV2>, RegExp][] = [
      [{ inputs: [{ name: 'kind', shape: [3] }] }, /job pair: tensor "kind" is declared twice/],
      [{ inputs: [{ name: 'grid', shape: [2, 3], dtype: 'float64' as 'float32' }] }, /job pair: input "grid": dtype must be float32 or int32 \(got "float64"\)/],
      [{ inputs: [{ name: 'grid', shape: [2, 0] }] }, /job pair: input "grid": shape must be up to 8 positive integers \(got \[2,0\]\)/],
      [{ inputs: [{ name: '9lives', shape: [1] }] }, /job pair: input name "9lives" must be/],
      [{ outputs: [{ name: 'kind', shape: [], dtype: 'int32', loss: 'hinge' as 'meanSquaredError' }] }, /job pair: output "kind": loss must be a function or one of sparseCategoricalCrossentropy, categoricalCrossentropy, meanSquaredError \(got "hinge"\)/],
      [{ outputs: [{ name: 'kind', shape: [], loss: 'sparseCategoricalCrossentropy' }] }, /job pair: output "kind": sparseCategoricalCrossentropy takes int32 class ids of shape \[\] or \[1\] \(declared float32 \[\]\)/],
      [{ outputs: [{ name: 'kind', shape: [3], dtype: 'int32', loss: 'meanSquaredError' }] }, /job pair: output "kind": meanSquaredError takes float32 targets \(declared int32\)/],
      [{ outputs: [] }, /job pair: outputs must declare at least one output/],
    ];
    for (const [over, message] of cases) expect(refusal(() => specOf(twoByTwo(over)))).toMatch(message);
  });

  it('refuses a model that does not fit, naming the tensor with expected and got', () => {
    const job = twoByTwo();
    const single = (t: typeof tf, inShape: number[], units: number[]): tf.LayersModel => {
      const a = t.input({ shape: inShape });
      const f = t.layers.flatten().apply(a) as tf.SymbolicTensor;
      return t.model({ inputs: a, outputs: units.map((u) => t.layers.dense({ units: u }).apply(f) as tf.SymbolicTensor) });
    };
    const pair = (inB: number, kindUnits: number[], whereUnits: number): tf.LayersModel => {
      const a = tf.input({ shape: [2, 3] });
      const b = tf.input({ shape: [inB] });
      const j = tf.layers.concatenate().apply([tf.layers.flatten().apply(a) as tf.SymbolicTensor, b]) as tf.SymbolicTensor;
      const kind = kindUnits.length === 1 ? tf.layers.dense({ units: kindUnits[0]! }).apply(j) : tf.layers.reshape({ targetShape: kindUnits }).apply(tf.layers.dense({ units: kindUnits[0]! * kindUnits[1]! }).apply(j));
      return tf.model({ inputs: [a, b], outputs: [kind as tf.SymbolicTensor, tf.layers.dense({ units: whereUnits }).apply(j) as tf.SymbolicTensor] });
    };
    const cases: [tf.LayersModel, RegExp][] = [
      [single(tf, [2, 3], [5, 2]), /job pair: the model has 1 input; the job declares 2 \(grid \[2, 3\], extra \[4\]\)/],
      [pair(3, [5], 2), /job pair: input "extra": the model's input 1 has shape \[3\], the job declares \[4\]/],
      [(() => { const a = tf.input({ shape: [2, 3] }); const b = tf.input({ shape: [4] }); const j = tf.layers.concatenate().apply([tf.layers.flatten().apply(a) as tf.SymbolicTensor, b]) as tf.SymbolicTensor; return tf.model({ inputs: [a, b], outputs: tf.layers.dense({ units: 5 }).apply(j) as tf.SymbolicTensor }); })(), /job pair: the model has 1 output; the job declares 2 \(kind \[\], where \[2\]\)/],
      [pair(4, [5, 2], 2), /job pair: output "kind": the model's output 0 has shape \[5, 2\]; sparseCategoricalCrossentropy needs one score per class/],
      [pair(4, [5], 3), /job pair: output "where": the model's output 1 has shape \[3\]; target "where" \[2\] needs 2 values per sample/],
    ];
    for (const [model, message] of cases) expect(refusal(() => checkModel(job, model))).toMatch(message);
  });

  it('refuses data that does not fit, naming the split and tensor with expected and got', () => {
    const job = twoByTwo();
    const model = specOf(job).createModel(tf);
    const good = rows(6);
    const without = (name: string): Split => ({ size: 6, tensors: Object.fromEntries(Object.entries(good.tensors).filter(([k]) => k !== name)) });
    const cases: [Split, RegExp][] = [
      [without('extra'), /job pair: train\.extra is undefined; it must be a Float32Array \(row-major, size × 4 values\)/],
      [{ size: 6, tensors: { ...good.tensors, kind: Float32Array.from(good.tensors['kind']!) } }, /job pair: train\.kind is a Float32Array; it must be an Int32Array \(row-major, size × 1 values\)/],
      [{ size: 6, tensors: { ...good.tensors, grid: good.tensors['grid']!.subarray(0, 30) } }, /job pair: train\.grid holds 30 values, but train\.size 6 × 6 values per row \[2, 3\] = 36/],
      [{ size: 6, tensors: { ...good.tensors, kind: Int32Array.of(0, 4, 5, 1, 2, 3) } }, /job pair: train\.kind\[2\] is 5; class ids must lie in \[0, 5\) \(the model's output has 5 classes\)/],
      [{ size: 6, tensors: { ...good.tensors, kind: Int32Array.of(0, -1, 2, 1, 2, 3) } }, /job pair: train\.kind\[1\] is -1; class ids must lie in \[0, 5\)/],
    ];
    for (const [train, message] of cases) expect(refusal(() => checkData(job, { train, test: rows(3) }, { model }))).toMatch(message);
    expect(refusal(() => checkData(job, { train: good, test: { size: 0, tensors: good.tensors } }))).toMatch(/job pair: test\.size must be an integer of at least 1 \(got 0\)/);
  });

  it('refuses a loss that does not give one value per sample', () => {
    const job = twoByTwo({ outputs: [{ name: 'kind', shape: [], dtype: 'int32', loss: (t, _y, p) => p }, { name: 'where', shape: [2], loss: 'meanSquaredError' }] });
    const model = specOf(job).createModel(tf);
    expect(refusal(() => evaluate(tf, job, model, rows(3)))).toMatch(/job pair: output "kind": its loss gave shape \[3, 5\]; a loss returns one value per sample \(\[3\]\)/);
  });
});

describe('v1 jobs and labels', () => {
  it('a v1 job reads as one float32 input x and one output y with its own loss', () => {
    const s = specOf(mnistMlp);
    expect(s.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [784], elements: 784 }]);
    expect(s.outputs.map((o) => ({ name: o.name, dtype: o.dtype, shape: o.shape, accuracy: o.accuracy, lossName: o.lossName }))).toEqual([{ name: 'y', dtype: 'float32', shape: [10], accuracy: 'argmax', lossName: 'custom' }]);
    expect(specOf(regressionMlp).outputs[0]!.accuracy).toBeNull();
  });

  it('a v1 model is held to its outputSize, except one-column targets (class ids) against any scores', () => {
    const dense = (inputs: number, units: number): tf.LayersModel => tf.sequential({ layers: [tf.layers.dense({ inputShape: [inputs], units })] });
    expect(() => checkModel(mnistMlp, dense(784, 10))).not.toThrow();
    expect(refusal(() => checkModel(mnistMlp, dense(784, 5)))).toMatch(/job mnist-mlp: output "y": the model's output 0 has shape \[5\]; target "y" \[10\] needs 10 values per sample/);
    expect(() => checkModel(regressionMlp, dense(10, 4))).not.toThrow();
  });

  it('accuracy on int32 labels compares them with the argmax of the scores', () => {
    // An identity model scores class argmax(x); 4 of 6 labels agree.
    const job: JobV2 = {
      name: 'ids', inputs: [{ name: 'x', shape: [3] }],
      outputs: [{ name: 'label', shape: [], dtype: 'int32', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] }],
      createModel: (t) => t.sequential({ layers: [t.layers.dense({ inputShape: [3], units: 3, useBias: false, kernelInitializer: 'identity' })] }),
      loadData: () => { throw new Error('unused'); },
    };
    const x = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0.2, 0.9, 0.1, 0.9, 0.1, 0, 0, 0.3, 0.8]);
    const label = Int32Array.of(0, 1, 2, 1, 2, 0);
    const r = evaluate(tf, job, specOf(job).createModel(tf), { size: 6, tensors: { x, label } });
    expect(r.accuracy).toBeCloseTo(4 / 6, 6);
    expect(r.outputs['label']!.accuracy).toBeCloseTo(4 / 6, 6);
  });

  it('sparse cross-entropy on class ids equals the one-hot cross-entropy of the same logits', () => {
    const logits = tf.tensor2d([[2, -1, 0.5], [0, 0, 3], [-2, 1, 1]]);
    const ids = tf.tensor1d([0, 2, 1], 'int32');
    const sparse = specOf({ ...twoByTwo(), outputs: [{ name: 'k', shape: [], dtype: 'int32', loss: 'sparseCategoricalCrossentropy' }] }).outputs[0]!.loss(tf, ids, logits);
    const hot = tf.losses.softmaxCrossEntropy(tf.oneHot(ids, 3), logits, undefined, undefined, tf.Reduction.NONE);
    expect(sparse.shape).toEqual([3]);
    expect(Array.from(sparse.dataSync())).toEqual(Array.from(hot.dataSync()));
  });
});
