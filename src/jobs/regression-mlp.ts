/**
 * The brief's own example: an MLP 10→50→1 with ReLU and MSE loss on seeded synthetic linear data
 * with noise. Inputs and targets are standardised with the training split's statistics only, so
 * nothing leaks from validation or test.
 */
import type { Dataset, JobV1, JobData } from '../shared/job/job.js';
import { gaussian, mixSeed, mulberry32 } from '../shared/base/rng.js';

const FEATURES = 10;
const SAMPLES = { train: 3200, validation: 400, test: 400 };
const NOISE = 0.1;

function standardise(parts: Float32Array[], width: number, fitOn: Float32Array): void {
  const rows = fitOn.length / width;
  for (let c = 0; c < width; c++) {
    let mean = 0;
    for (let r = 0; r < rows; r++) mean += fitOn[r * width + c]!;
    mean /= rows;
    let v = 0;
    for (let r = 0; r < rows; r++) v += (fitOn[r * width + c]! - mean) ** 2;
    const sd = Math.sqrt(v / rows) || 1;
    for (const p of parts) for (let i = c; i < p.length; i += width) p[i] = (p[i]! - mean) / sd;
  }
}

export function makeRegressionData(seed: number): JobData {
  const rnd = gaussian(mulberry32(mixSeed(seed, 0x5e9)));
  const w = Array.from({ length: FEATURES }, () => rnd());
  const bias = rnd();
  const make = (n: number): Dataset => {
    const x = new Float32Array(n * FEATURES);
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let t = bias;
      for (let f = 0; f < FEATURES; f++) {
        // Features on different scales, so the normalisation step matters.
        const v = rnd() * (1 + f) + f;
        x[i * FEATURES + f] = v;
        t += w[f]! * (v - f) / (1 + f);
      }
      y[i] = t + NOISE * rnd();
    }
    return { x, y, size: n };
  };
  const train = make(SAMPLES.train);
  const validation = make(SAMPLES.validation);
  const test = make(SAMPLES.test);
  standardise([train.x, validation.x, test.x], FEATURES, train.x.slice());
  standardise([train.y, validation.y, test.y], 1, train.y.slice());
  return { train, validation, test };
}

export const regressionMlp: JobV1 = {
  name: 'regression-mlp',
  inputShape: [FEATURES],
  outputSize: 1,
  createModel: (tf) =>
    tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [FEATURES], units: 50, activation: 'relu' }),
        tf.layers.dense({ units: 1 }),
      ],
    }),
  loadData: makeRegressionData,
  loss: (tf, yTrue, yPred) => tf.mean(tf.squaredDifference(yTrue, yPred), -1),
  defaults: { epochs: 5, batchSize: 32, lr: 1e-3 },
};
