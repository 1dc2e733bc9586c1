/**
 * A wide MLP for engine benchmarks: 256→2048→2048→10 (4,743,178 parameters), softmax
 * cross-entropy, on seeded synthetic data (rows of uniform noise, 10 classes). Big enough that
 * arithmetic, not per-op cost, decides a step's time. A job module like any other (default export).
 */
import type { JobV1, JobData } from '../../dist/shared/job/job.js';
import { mixSeed, mulberry32 } from '../../dist/shared/base/rng.js';

const IN = 256;
const CLASSES = 10;

function synth(seed: number, n: number): JobData['train'] {
  const rnd = mulberry32(mixSeed(seed, 0x71de));
  const x = new Float32Array(n * IN);
  for (let i = 0; i < x.length; i++) x[i] = rnd() * 2 - 1;
  const y = new Float32Array(n * CLASSES);
  for (let i = 0; i < n; i++) y[i * CLASSES + Math.floor(rnd() * CLASSES)] = 1;
  return { x, y, size: n };
}

export const wideMlp: JobV1 = {
  name: 'wide-mlp',
  inputShape: [IN],
  outputSize: CLASSES,
  createModel: (tf) =>
    tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [IN], units: 2048, activation: 'relu' }),
        tf.layers.dense({ units: 2048, activation: 'relu' }),
        tf.layers.dense({ units: CLASSES }),
      ],
    }),
  loadData: (seed) => ({ train: synth(seed, 2048), test: synth(seed + 1, 256) }),
  loss: (tf, yTrue, yPred) => tf.losses.softmaxCrossEntropy(yTrue, yPred, undefined, undefined, tf.Reduction.NONE),
  accuracy: true,
  defaults: { epochs: 1, batchSize: 32, lr: 1e-3 },
};

export default wideMlp;
