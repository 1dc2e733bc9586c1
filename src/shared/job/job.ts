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

export interface Job {
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

/** Number of scalars in one input sample. */
export function inputSize(job: Job): number {
  return job.inputShape.reduce((a, b) => a * b, 1);
}
