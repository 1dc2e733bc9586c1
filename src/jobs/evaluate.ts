/**
 * Held-out evaluation, in batches: per output, the mean per-sample loss and (where the job asks
 * for it) accuracy; overall, the weighted loss that is trained and the first output's accuracy.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Dataset, Job, Split, Tfjs } from '../shared/job/job.js';
import { specOf, outputsOf, perSampleLoss, toSplit, type AccuracyMode, type JobSpec, type OutputSpec } from '../shared/job/spec.js';

/** One output's figures. */
export interface OutputResult {
  loss: number;
  accuracy: number | null;
}

export interface EvalResult {
  /** Mean of the trained loss (the outputs' losses, weighted and summed). */
  loss: number;
  /** Accuracy of the first output that reports one (null when none does). */
  accuracy: number | null;
  /** Per output, by the name of its target. */
  outputs: Record<string, OutputResult>;
}

const EVAL_BATCH = 500;

/**
 * How accuracy reads a job's (first reporting) target: one-hot (or score) rows compare by argmax;
 * int32 labels and one-column targets are class ids, compared with the argmax of the prediction
 * (or, for a one-column prediction, with the prediction thresholded at 0.5). A one-column
 * target's argmax is always 0, which would report the share of class 0 as accuracy.
 */
export function accuracyMode(job: Job): AccuracyMode | null {
  return specOf(job).outputs.find((o) => o.accuracy !== null)?.accuracy ?? null;
}

/** Number of rows of a batch the model classifies right (a scalar tensor). */
function correctCount(tf: Tfjs, mode: AccuracyMode, ys: TF.Tensor, pred: TF.Tensor): TF.Tensor {
  if (mode === 'argmax') return tf.sum(tf.cast(tf.equal(tf.argMax(pred, -1), tf.argMax(ys, -1)), 'float32'));
  const flat = tf.reshape(pred, [pred.shape[0]!, -1]);
  const predicted = flat.shape[1] === 1 ? tf.cast(tf.greaterEqual(tf.reshape(flat, [-1]), 0.5), 'float32') : tf.cast(tf.argMax(flat, -1), 'float32');
  return tf.sum(tf.cast(tf.equal(predicted, tf.round(tf.cast(tf.reshape(ys, [-1]), 'float32'))), 'float32'));
}

function tensorRows(tf: Tfjs, t: OutputSpec | JobSpec['inputs'][number], data: Split, start: number, n: number): TF.Tensor {
  return tf.tensor(data.tensors[t.name]!.subarray(start * t.elements, (start + n) * t.elements), [n, ...t.shape], t.dtype);
}

/** Scores `model` on a split (a v1 `{ x, y, size }` or named tensors). */
export function evaluate(tf: Tfjs, job: Job, model: TF.LayersModel, dataset: Dataset | Split, batch = EVAL_BATCH): EvalResult {
  const spec = specOf(job);
  const data = toSplit(dataset);
  const k = spec.outputs.length;
  // Per output: loss sum, correct count; then the weighted total.
  const sums = new Float64Array(2 * k + 1);
  for (let start = 0; start < data.size; start += batch) {
    const n = Math.min(batch, data.size - start);
    const got = tf.tidy(() => {
      const xs = spec.inputs.map((t) => tensorRows(tf, t, data, start, n));
      const ys = spec.outputs.map((o) => tensorRows(tf, o, data, start, n));
      const preds = outputsOf(model.apply(xs.length === 1 ? xs[0]! : xs, { training: false }) as TF.Tensor | TF.Tensor[]);
      const { total, parts } = perSampleLoss(tf, spec, ys, preds, n);
      const figures = spec.outputs.flatMap((o, i) => [tf.sum(parts[i]!), o.accuracy ? correctCount(tf, o.accuracy, ys[i]!, preds[i]!) : tf.scalar(0)]);
      return tf.stack([...figures, tf.sum(total)]).dataSync();
    });
    got.forEach((v, i) => (sums[i]! += v));
  }
  const mean = (v: number): number => (data.size > 0 ? v / data.size : NaN);
  const outputs: Record<string, OutputResult> = {};
  spec.outputs.forEach((o, i) => (outputs[o.name] = { loss: mean(sums[2 * i]!), accuracy: o.accuracy ? mean(sums[2 * i + 1]!) : null }));
  const first = spec.outputs.find((o) => o.accuracy !== null);
  return { loss: mean(sums[2 * k]!), accuracy: first ? outputs[first.name]!.accuracy : null, outputs };
}

/** The first `n` rows of a split (views, no copies). */
export function headOf(data: Split, job: Job, n: number): Split {
  const tensors: Split['tensors'] = {};
  for (const t of specOf(job).tensors) tensors[t.name] = data.tensors[t.name]!.subarray(0, n * t.elements);
  return { size: n, tensors };
}

/**
 * Evaluates one batch and discards the result. The engine's first evaluation allocates and sets up
 * what every later one reuses (about 30 ms of a 50 ms first evaluation of mnist-mlp on wasm); the
 * coordinator does it while it waits for workers, so the first epoch's end does not pay for it.
 * A job whose evaluation is broken fails here, before any training.
 */
export function warmUpEvaluation(tf: Tfjs, job: Job, model: TF.LayersModel, data: Dataset | Split): void {
  const split = toSplit(data);
  evaluate(tf, job, model, headOf(split, job, Math.min(EVAL_BATCH, split.size)));
}

/** Per-output figures as text, for a model with more than one output (empty otherwise). */
export function outputsText(outputs: Record<string, OutputResult>): string {
  const entries = Object.entries(outputs);
  if (entries.length < 2) return '';
  return entries.map(([name, o]) => `; ${name}: loss ${o.loss.toPrecision(6)}${o.accuracy === null ? '' : `, accuracy ${(o.accuracy * 100).toFixed(2)}%`}`).join('');
}
