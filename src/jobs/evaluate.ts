/** Held-out evaluation: mean per-sample loss and (for classifiers) accuracy, in batches. */
import type * as TF from '@tensorflow/tfjs';
import type { Dataset, Job, Tfjs } from '../shared/job/job.js';
import { inputSize } from '../shared/job/job.js';

export interface EvalResult {
  loss: number;
  accuracy: number | null;
}

const EVAL_BATCH = 500;

/**
 * How accuracy reads a job's targets: one-hot (or score) rows compare by argmax; one-column
 * targets are class ids, compared with the argmax of the prediction (or, for a one-column
 * prediction, with the prediction thresholded at 0.5). A one-column target's argmax is always 0,
 * which would report the share of class 0 as accuracy.
 */
export function accuracyMode(job: Job): 'argmax' | 'class-ids' {
  return job.outputSize === 1 ? 'class-ids' : 'argmax';
}

/** Number of rows of a batch the model classifies right (a scalar tensor). */
function correctCount(tf: Tfjs, job: Job, ys: TF.Tensor, pred: TF.Tensor): TF.Tensor {
  if (accuracyMode(job) === 'argmax') return tf.sum(tf.cast(tf.equal(tf.argMax(pred, -1), tf.argMax(ys, -1)), 'float32'));
  const flat = tf.reshape(pred, [pred.shape[0]!, -1]);
  const predicted = flat.shape[1] === 1 ? tf.cast(tf.greaterEqual(tf.reshape(flat, [-1]), 0.5), 'float32') : tf.cast(tf.argMax(flat, -1), 'float32');
  return tf.sum(tf.cast(tf.equal(predicted, tf.round(tf.reshape(ys, [-1]))), 'float32'));
}

export function evaluate(tf: Tfjs, job: Job, model: TF.LayersModel, data: Dataset, batch = EVAL_BATCH): EvalResult {
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
      const hits = job.accuracy ? correctCount(tf, job, ys, pred) : tf.scalar(0);
      return [loss.dataSync()[0]!, hits.dataSync()[0]!];
    });
    lossSum += l;
    correct += c;
  }
  return { loss: data.size > 0 ? lossSum / data.size : NaN, accuracy: job.accuracy ? correct / data.size : null };
}

/**
 * Evaluates one batch and discards the result. The engine's first evaluation allocates and sets up
 * what every later one reuses (about 30 ms of a 50 ms first evaluation of mnist-mlp on wasm); the
 * coordinator does it while it waits for workers, so the first epoch's end does not pay for it.
 * A job whose evaluation is broken fails here, before any training.
 */
export function warmUpEvaluation(tf: Tfjs, job: Job, model: TF.LayersModel, data: Dataset): void {
  const n = Math.min(EVAL_BATCH, data.size);
  const width = inputSize(job);
  evaluate(tf, job, model, { x: data.x.subarray(0, n * width), y: data.y.subarray(0, n * job.outputSize), size: n });
}
