/**
 * A model with two inputs and two outputs, on the mnist digits: the image as a 28×28 matrix and
 * a small feature vector measured from it (the ink in each band of four rows and of four columns,
 * and the ink's centre), into a dense layer each, joined, then two heads: the digit (10 classes)
 * and its parity (2 classes), both int32 labels with sparse cross-entropy and accuracy. It shows
 * the v2 job API end to end: rank-2 and rank-1 float32 inputs, int32 targets, weighted losses.
 */
import type * as TF from '@tensorflow/tfjs';
import type { JobV2, Split, Tfjs } from '../shared/job/job.js';
import { loadMnistDigits, mnistSplit } from './mnist-mlp.js';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const BAND = 4;
const BANDS = SIDE / BAND;
/** Ink per row band and per column band, then the centre of ink (row, column), each in [0, 1]. */
export const FEATURES = 2 * BANDS + 2;

/** The feature vector of one image (`px`: 784 pixels in [0, 1], row-major). */
export function imageFeatures(px: Float32Array, out: Float32Array): void {
  out.fill(0);
  let ink = 0;
  let rowMoment = 0;
  let colMoment = 0;
  for (let r = 0; r < SIDE; r++) {
    for (let c = 0; c < SIDE; c++) {
      const v = px[r * SIDE + c]!;
      out[Math.floor(r / BAND)]! += v;
      out[BANDS + Math.floor(c / BAND)]! += v;
      ink += v;
      rowMoment += v * r;
      colMoment += v * c;
    }
  }
  // Band sums as a share of the band's pixels, so every feature lies in [0, 1].
  for (let i = 0; i < 2 * BANDS; i++) out[i] = out[i]! / (BAND * SIDE);
  out[2 * BANDS] = ink > 0 ? rowMoment / ink / (SIDE - 1) : 0.5;
  out[2 * BANDS + 1] = ink > 0 ? colMoment / ink / (SIDE - 1) : 0.5;
}

function take(idx: Uint32Array): Split {
  const all = loadMnistDigits();
  const image = new Float32Array(idx.length * PIXELS);
  const features = new Float32Array(idx.length * FEATURES);
  const digit = new Int32Array(idx.length);
  const parity = new Int32Array(idx.length);
  idx.forEach((src, i) => {
    const px = all.x.subarray(src * PIXELS, (src + 1) * PIXELS);
    image.set(px, i * PIXELS);
    imageFeatures(px, features.subarray(i * FEATURES, (i + 1) * FEATURES));
    digit[i] = all.labels[src]!;
    parity[i] = all.labels[src]! % 2;
  });
  return { size: idx.length, tensors: { image, features, digit, parity } };
}

function createModel(tf: Tfjs): TF.LayersModel {
  const image = tf.input({ shape: [SIDE, SIDE], name: 'image' });
  const features = tf.input({ shape: [FEATURES], name: 'features' });
  const seen = tf.layers.dense({ units: 64, activation: 'relu' }).apply(tf.layers.flatten().apply(image)) as TF.SymbolicTensor;
  const measured = tf.layers.dense({ units: 16, activation: 'relu' }).apply(features) as TF.SymbolicTensor;
  const joined = tf.layers.concatenate().apply([seen, measured]) as TF.SymbolicTensor;
  // Logits out: the built-in cross-entropy fuses softmax and log.
  const digit = tf.layers.dense({ units: 10, name: 'digit' }).apply(joined) as TF.SymbolicTensor;
  const parity = tf.layers.dense({ units: 2, name: 'parity' }).apply(joined) as TF.SymbolicTensor;
  return tf.model({ inputs: [image, features], outputs: [digit, parity] });
}

export const mnistMulti: JobV2 = {
  name: 'mnist-multi',
  inputs: [
    { name: 'image', shape: [SIDE, SIDE] },
    { name: 'features', shape: [FEATURES] },
  ],
  outputs: [
    { name: 'digit', shape: [], dtype: 'int32', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] },
    // Parity follows from the digit; a half weight keeps the digit the main task.
    { name: 'parity', shape: [], dtype: 'int32', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], lossWeight: 0.5 },
  ],
  createModel,
  loadData: ({ seed }) => {
    const split = mnistSplit(seed);
    return { train: take(split.train), test: take(split.test) };
  },
  defaults: { epochs: 2, batchSize: 32, lr: 2e-3 },
};
