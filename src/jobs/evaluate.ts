/** Held-out evaluation: mean per-sample loss and (for classifiers) accuracy, in batches. */
import type * as TF from '@tensorflow/tfjs';
import type { Dataset, Job, Tfjs } from './job.js';
import { inputSize } from './job.js';

export interface EvalResult {
  loss: number;
  accuracy: number | null;
}

export function evaluate(tf: Tfjs, job: Job, model: TF.LayersModel, data: Dataset, batch = 500): EvalResult {
  const width = inputSize(job);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < data.size; start += batch) {
    const n = Math.min(batch, data.size - start);
    const [l, c] = tf.tidy(() => {
      const xs = tf.tensor(data.x.subarray(start * width, (start + n) * width), [n, ...job.inputShape], 'float32');
      const ys = tf.tensor(data.y.subarray(start * job.outputSize, (start + n) * job.outputSize), [n, job.outputSize], 'float32');
      const pred = model.apply(xs, { training: false }) as TF.Tensor;
      const loss = tf.sum(job.loss(tf, ys, pred));
      const hits = job.accuracy ? tf.sum(tf.cast(tf.equal(tf.argMax(pred, -1), tf.argMax(ys, -1)), 'float32')) : tf.scalar(0);
      return [loss.dataSync()[0]!, hits.dataSync()[0]!];
    });
    lossSum += l;
    correct += c;
  }
  return { loss: data.size > 0 ? lossSum / data.size : NaN, accuracy: job.accuracy ? correct / data.size : null };
}
