/**
 * One reading of both job APIs: a v1 job becomes a v2-shaped spec with one float32 input `x` and
 * one float32 target `y`, so the trainer, the data path and evaluation have a single code path.
 * Declarations are user code and are checked here (RT_JOB_INVALID naming the tensor); the model
 * and the data are checked against the spec in validate.ts.
 */
import type * as TF from '@tensorflow/tfjs';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import {
  isJobV2, type Dataset, type Job, type LoadContext, type LossFn, type OutputDecl, type Split, type SplitData, type TensorDecl,
  type TensorDtype, type Tfjs,
} from './job.js';

/** A declared tensor with its dtype resolved and its values per row. */
export interface TensorSpec {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  elements: number;
}

/**
 * How accuracy reads a target: `class-ids` (int32 labels, or one float32 column) against the
 * argmax of the output, or `argmax` (one-hot rows) against the argmax of the output.
 */
export type AccuracyMode = 'argmax' | 'class-ids';

export interface OutputSpec extends TensorSpec {
  /** The loss's name in messages: a built-in's name, or `custom`. */
  lossName: string;
  loss: LossFn;
  weight: number;
  accuracy: AccuracyMode | null;
}

export interface JobSpec {
  name: string;
  inputs: TensorSpec[];
  outputs: OutputSpec[];
  /** Inputs then targets: every tensor a row of data holds. */
  tensors: TensorSpec[];
  createModel(tf: Tfjs): TF.LayersModel;
  loadData(ctx: LoadContext): Promise<SplitData>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const DTYPES: readonly TensorDtype[] = ['float32', 'int32'];

function invalid(job: string, why: string): never {
  throw new RingtrainError(ErrorCodes.JOB_INVALID, `job ${job}: ${why}`);
}

/** Per-sample softmax cross-entropy of int32 class ids against logits. */
const sparseCe: LossFn = (tf, yTrue, yPred) => {
  const classes = yPred.shape[yPred.shape.length - 1]!;
  const labels = tf.cast(tf.reshape(yTrue, [-1]), 'int32');
  return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, classes), yPred, undefined, undefined, tf.Reduction.NONE);
};
const ce: LossFn = (tf, yTrue, yPred) => tf.losses.softmaxCrossEntropy(yTrue, yPred, undefined, undefined, tf.Reduction.NONE);
const mse: LossFn = (tf, yTrue, yPred) => tf.mean(tf.reshape(tf.squaredDifference(tf.reshape(yTrue, yPred.shape), yPred), [yPred.shape[0]!, -1]), -1);

export const BUILTIN_LOSSES: Readonly<Record<string, LossFn>> = {
  sparseCategoricalCrossentropy: sparseCe,
  categoricalCrossentropy: ce,
  meanSquaredError: mse,
};

function tensorSpec(job: string, role: string, d: TensorDecl, seen: Set<string>): TensorSpec {
  if (typeof d !== 'object' || d === null) invalid(job, `an entry of ${role} is not an object { name, shape, dtype? }`);
  if (typeof d.name !== 'string' || !NAME.test(d.name)) invalid(job, `${role} name ${JSON.stringify(d.name)} must be 1-64 letters, digits, _ . - (not starting with a digit)`);
  if (seen.has(d.name)) invalid(job, `tensor "${d.name}" is declared twice (input and target names share one namespace)`);
  seen.add(d.name);
  if (!Array.isArray(d.shape) || !d.shape.every((n) => Number.isInteger(n) && n > 0) || d.shape.length > 8) {
    invalid(job, `${role} "${d.name}": shape must be up to 8 positive integers (got ${JSON.stringify(d.shape)})`);
  }
  const dtype = d.dtype ?? 'float32';
  if (!DTYPES.includes(dtype)) invalid(job, `${role} "${d.name}": dtype must be float32 or int32 (got ${JSON.stringify(d.dtype)})`);
  return { name: d.name, dtype, shape: [...d.shape], elements: d.shape.reduce((a, b) => a * b, 1) };
}

function outputSpec(job: string, o: OutputDecl, seen: Set<string>): OutputSpec {
  const t = tensorSpec(job, 'output', o, seen);
  const lossName = typeof o.loss === 'string' ? o.loss : 'custom';
  const loss = typeof o.loss === 'function' ? o.loss : BUILTIN_LOSSES[String(o.loss)];
  if (loss === undefined) invalid(job, `output "${t.name}": loss must be a function or one of ${Object.keys(BUILTIN_LOSSES).join(', ')} (got ${JSON.stringify(o.loss)})`);
  if (lossName === 'sparseCategoricalCrossentropy' && (t.dtype !== 'int32' || t.elements !== 1)) {
    invalid(job, `output "${t.name}": sparseCategoricalCrossentropy takes int32 class ids of shape [] or [1] (declared ${t.dtype} [${t.shape.join(', ')}])`);
  }
  if ((lossName === 'categoricalCrossentropy' || lossName === 'meanSquaredError') && t.dtype !== 'float32') {
    invalid(job, `output "${t.name}": ${lossName} takes float32 targets (declared ${t.dtype})`);
  }
  const metrics: unknown = o.metrics ?? [];
  if (!Array.isArray(metrics) || !metrics.every((m) => m === 'accuracy')) invalid(job, `output "${t.name}": metrics may only list 'accuracy' (got ${JSON.stringify(metrics)})`);
  const weight = o.lossWeight ?? 1;
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) invalid(job, `output "${t.name}": lossWeight must be a finite number ≥ 0 (got ${String(weight)})`);
  const accuracy = metrics.length === 0 ? null : accuracyModeOf(t);
  return { ...t, lossName, loss, weight, accuracy };
}

/** Int32 labels and one-column targets are class ids; wider float rows are one-hot. */
export function accuracyModeOf(t: Pick<TensorSpec, 'dtype' | 'elements'>): AccuracyMode {
  return t.dtype === 'int32' || t.elements === 1 ? 'class-ids' : 'argmax';
}

/** A v1 split as named tensors (`x`, `y`); a v2 split as it is. */
export function toSplit(d: Dataset | Split): Split {
  return 'tensors' in d ? d : { size: d.size, tensors: { x: d.x, y: d.y } };
}

const specs = new WeakMap<Job, JobSpec>();

/** The spec of a job (cached per job object); RT_JOB_INVALID for a declaration that cannot work. */
export function specOf(job: Job): JobSpec {
  const cached = specs.get(job);
  if (cached) return cached;
  let spec: JobSpec;
  if (isJobV2(job)) {
    const seen = new Set<string>();
    if (job.inputs.length === 0) invalid(job.name, 'inputs is empty; declare at least one input tensor');
    if (!Array.isArray(job.outputs) || job.outputs.length === 0) invalid(job.name, 'outputs must declare at least one output { name, shape, dtype?, loss }');
    const inputs = job.inputs.map((d) => tensorSpec(job.name, 'input', d, seen));
    const outputs = job.outputs.map((o) => outputSpec(job.name, o, seen));
    spec = {
      name: job.name, inputs, outputs, tensors: [...inputs, ...outputs],
      createModel: (tf) => job.createModel(tf),
      loadData: async (ctx) => job.loadData(ctx),
    };
  } else {
    const x: TensorSpec = { name: 'x', dtype: 'float32', shape: [...job.inputShape], elements: job.inputShape.reduce((a, b) => a * b, 1) };
    const y: OutputSpec = {
      name: 'y', dtype: 'float32', shape: [job.outputSize], elements: job.outputSize, lossName: 'custom', weight: 1,
      loss: (tf, t, p) => job.loss(tf, t, p), accuracy: job.accuracy === true ? accuracyModeOf({ dtype: 'float32', elements: job.outputSize }) : null,
    };
    spec = {
      name: job.name, inputs: [x], outputs: [y], tensors: [x, y],
      createModel: (tf) => job.createModel(tf),
      loadData: async (ctx) => {
        const d = await job.loadData(ctx.seed);
        const split = (s: Dataset | undefined): Split => (typeof s === 'object' && s !== null ? toSplit(s) : (s as unknown as Split));
        return { train: split(d.train), test: split(d.test), ...(d.validation === undefined ? {} : { validation: split(d.validation) }) };
      },
    };
  }
  specs.set(job, spec);
  return spec;
}

/**
 * The summed-over-outputs, weighted per-sample loss of one batch (a 1-D tensor of `rows` values).
 * A job's own loss must give one value per row; anything else is RT_JOB_INVALID (it would be
 * summed silently into a wrong gradient).
 */
export function perSampleLoss(tf: Tfjs, spec: JobSpec, targets: TF.Tensor[], preds: TF.Tensor[], rows: number): { total: TF.Tensor; parts: TF.Tensor[] } {
  const parts = spec.outputs.map((o, i) => {
    const l = o.loss(tf, targets[i]!, preds[i]!);
    if (l.shape.length !== 1 || l.shape[0] !== rows) {
      invalid(spec.name, `output "${o.name}": its loss gave shape [${l.shape.join(', ')}]; a loss returns one value per sample ([${rows}])`);
    }
    return l;
  });
  const total = parts.reduce((acc, l, i) => {
    const w = spec.outputs[i]!.weight;
    const term = w === 1 ? l : tf.mul(l, w);
    return acc === null ? term : tf.add(acc, term);
  }, null as TF.Tensor | null)!;
  return { total, parts };
}

/** The model's outputs as a list (apply gives a bare tensor for a single-output model). */
export function outputsOf(out: TF.Tensor | TF.Tensor[]): TF.Tensor[] {
  return Array.isArray(out) ? out : [out];
}
