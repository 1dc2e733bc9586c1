/**
 * mnist-mlp with integer labels: the same digits, split and model, but each target is one int32
 * class id trained with the built-in sparse categorical cross-entropy instead of a one-hot float
 * row. The built-in loss is the one-hot loss of the same logits, so for one seed this job trains
 * the same weights as mnist-mlp while its targets take a tenth of the bytes.
 */
import type { JobV2, Split } from '../shared/job/job.js';
import { loadMnistDigits, mnistMlp, mnistSplit } from './mnist-mlp.js';

const PIXELS = 784;

function take(idx: Uint32Array): Split {
  const all = loadMnistDigits();
  const pixels = new Float32Array(idx.length * PIXELS);
  const label = new Int32Array(idx.length);
  idx.forEach((src, i) => {
    pixels.set(all.x.subarray(src * PIXELS, (src + 1) * PIXELS), i * PIXELS);
    label[i] = all.labels[src]!;
  });
  return { size: idx.length, tensors: { pixels, label } };
}

export const mnistInt: JobV2 = {
  name: 'mnist-int',
  inputs: [{ name: 'pixels', shape: [PIXELS] }],
  outputs: [{ name: 'label', shape: [], dtype: 'int32', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] }],
  createModel: (tf) => mnistMlp.createModel(tf),
  loadData: ({ seed }) => {
    const split = mnistSplit(seed);
    return { train: take(split.train), test: take(split.test) };
  },
  defaults: mnistMlp.defaults,
};
