/**
 * The same handwritten digits as mnist-mlp, classified by a small convolutional network:
 * conv 3×3×8 → max-pool 2 → conv 3×3×16 → max-pool 2 → dense 10. Small on purpose (about 5k
 * parameters): it exercises the convolution kernels a GPU engine must have (wasm lacks
 * Conv2DBackpropFilter, so `auto` skips wasm for it) while staying quick on software adapters.
 */
import type { JobV1 } from '../shared/job/job.js';
import { makeMnistData } from './mnist-mlp.js';

const CLASSES = 10;

export const mnistCnn: JobV1 = {
  name: 'mnist-cnn',
  inputShape: [28, 28, 1],
  outputSize: CLASSES,
  createModel: (tf) =>
    tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: CLASSES }),
      ],
    }),
  // Rows are the same flat 784-pixel vectors as mnist-mlp; the trainer reshapes them to 28×28×1.
  loadData: makeMnistData,
  // Logits out; softmax and log fused in the loss for numerical stability.
  loss: (tf, yTrue, yPred) => tf.losses.softmaxCrossEntropy(yTrue, yPred, undefined, undefined, tf.Reduction.NONE),
  accuracy: true,
  defaults: { epochs: 2, batchSize: 32, lr: 3e-3 },
};
