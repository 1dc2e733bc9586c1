/**
 * The job API: what a user writes to train their own model with ringtrain. A job module's default
 * export (or its `job` export) is a `Job`. The framework passes the tfjs namespace in, so a job
 * never imports its own copy of tfjs (two copies would not share a backend).
 */
import type * as TF from '@tensorflow/tfjs';

export type Tfjs = typeof TF;

/** Samples as flat row-major float32: `x` is size × inputSize, `y` is size × outputSize. */
export interface Dataset {
  x: Float32Array;
  y: Float32Array;
  size: number;
}

export interface JobData {
  train: Dataset;
  test: Dataset;
  validation?: Dataset;
}

/**
 * A v1 job: one float32 input and one float32 target row per sample. Still accepted as is; the
 * framework reads it as a v2 job with one input `x` and one output `y` (spec.ts).
 */
export interface JobV1 {
  /** Short name, used in logs and output folder names. */
  name: string;
  /** Shape of one input sample (without the batch dimension). */
  inputShape: number[];
  /**
   * Length of one target row. The model's output has this width, except with one-column targets
   * (class ids), where the model may output one score per class.
   */
  outputSize: number;
  /** Builds the (uncompiled) model. Called on every rank; initial weights come from the coordinator. */
  createModel(tf: Tfjs): TF.LayersModel;
  /**
   * Loads or generates the data, deterministically from `seed`. Runs on the coordinator, and once
   * per process on each worker started with `--data auto` (the default): a worker whose training
   * split is bit-identical to the coordinator's (same dataset fingerprint) then receives only
   * batch indices. Data that differs per machine is not an error, only streamed.
   */
  loadData(seed: number): Promise<JobData> | JobData;
  /** Per-sample loss: returns a 1-D tensor with one value per row of the batch. */
  loss(tf: Tfjs, yTrue: TF.Tensor, yPred: TF.Tensor): TF.Tensor;
  /**
   * Report classification accuracy: argmax of prediction vs. argmax of target; with one output
   * column (`outputSize: 1`) targets are class ids, compared with the prediction's argmax (or, for
   * a one-column prediction, the prediction thresholded at 0.5).
   */
  accuracy?: boolean;
  /** Hyper-parameters used when the command line gives none. */
  defaults?: JobDefaults;
}

/** Element types a tensor may have: the engines' float32 and int32. */
export type TensorDtype = 'float32' | 'int32';
export type TensorArray = Float32Array | Int32Array;

/** One named tensor of a sample: its row shape (without the batch dimension) and dtype. */
export interface TensorDecl {
  /** 1-64 letters, digits, `_ . -`, not starting with a digit (the packed-file rule). */
  name: string;
  /** Row shape; `[]` is one scalar per sample (an integer class label, say). */
  shape: number[];
  /** Defaults to float32. */
  dtype?: TensorDtype;
}

/** A per-sample loss: yTrue and yPred have the batch dimension first; returns one value per row. */
export type LossFn = (tf: Tfjs, yTrue: TF.Tensor, yPred: TF.Tensor) => TF.Tensor;

/**
 * Built-in losses; the model outputs logits (no softmax layer) for the cross-entropies.
 * `sparseCategoricalCrossentropy` takes int32 class ids (target shape `[]` or `[1]`) against one
 * score per class; `categoricalCrossentropy` takes one-hot (or probability) float32 rows of the
 * output's width; `meanSquaredError` averages over every value of a row.
 */
export type BuiltinLoss = 'sparseCategoricalCrossentropy' | 'categoricalCrossentropy' | 'meanSquaredError';

/**
 * One model output and the target tensor it is trained against: `name`, `shape` and `dtype`
 * describe the target in the data; the model output's own shape follows from the loss.
 */
export interface OutputDecl extends TensorDecl {
  loss: BuiltinLoss | LossFn;
  /**
   * `accuracy`: class ids (int32, or one float32 column) against the argmax of the output (a
   * one-column output is thresholded at 0.5); one-hot rows by argmax against argmax.
   */
  metrics?: 'accuracy'[];
  /** Weight of this output's loss in the sum that is trained (default 1). */
  lossWeight?: number;
}

/** Where loadData runs: `rank` and `worldSize` are null on the coordinator. */
export interface LoadContext {
  seed: number;
  rank: number | null;
  worldSize: number | null;
}

/** One split as named tensors, each holding `size` rows, row-major. */
export interface Split {
  size: number;
  tensors: Record<string, TensorArray>;
}

export interface SplitData {
  train: Split;
  test: Split;
  validation?: Split;
}

/** Rows of a batch: one typed array per named tensor, in the batch's order. */
export type Rows = Record<string, TensorArray>;

/**
 * A v2 job: named input and target tensors of any rank, float32 or int32; a model with one input
 * per entry of `inputs` and one output per entry of `outputs`, in that order; a loss (and
 * metrics) per output. The contract is checked before training (validate.ts).
 */
export interface JobV2 {
  name: string;
  /** The model's inputs, in the order of `model.inputs`. */
  inputs: TensorDecl[];
  /** The model's outputs, in the order of `model.outputs`, each with its target tensor. */
  outputs: OutputDecl[];
  /** Builds the (uncompiled) model. Called on every rank; initial weights come from the coordinator. */
  createModel(tf: Tfjs): TF.LayersModel;
  /**
   * Loads or generates the data, deterministically from `ctx.seed`. The coordinator calls it
   * with rank and worldSize null; each worker with `--data auto` calls it with its own. A worker
   * whose training split is bit-identical to the coordinator's receives batch indices; a worker
   * whose split differs (its own shard, say) receives its batches as rows.
   */
  loadData(ctx: LoadContext): Promise<SplitData> | SplitData;
  defaults?: JobDefaults;
}

/** What a job module exports: either API. */
export type Job = JobV1 | JobV2;

/** True for a v2 job (it declares named inputs). */
export function isJobV2(job: Job): job is JobV2 {
  return Array.isArray((job as Partial<JobV2>).inputs);
}

/**
 * A job's own hyper-parameters, each overridden by the flag of the same name. The optimizer keys
 * are the flags' (--weight-decay is `weightDecay`). `weightDecay`, `momentum` and `nesterov`
 * belong to the job's `optimizer`, and `warmupSteps`, `lrDecaySteps`, `lrStepSize`, `lrGamma` to
 * its `lrSchedule`: each group is dropped when the command line picks another optimizer (schedule).
 */
export interface JobDefaults {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  optimizer?: 'adam' | 'adamw' | 'sgd';
  weightDecay?: number;
  momentum?: number;
  nesterov?: boolean;
  lrSchedule?: 'constant' | 'warmup' | 'cosine' | 'step';
  warmupSteps?: number;
  lrDecaySteps?: number;
  lrStepSize?: number;
  lrGamma?: number;
  clipNorm?: number;
}

/** Number of scalars in one input sample of a v1 job. */
export function inputSize(job: JobV1): number {
  return job.inputShape.reduce((a, b) => a * b, 1);
}
