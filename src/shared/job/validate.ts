/**
 * Checks a job's model and data before any worker starts. A job is user code: a model with two
 * inputs, a plain array where a Float32Array belongs, or a `size` that disagrees with the arrays
 * would otherwise fail deep inside the engine (or, for a wrong size, train on silently). Each
 * check fails with RT_JOB_INVALID naming what differs.
 */
import type * as TF from '@tensorflow/tfjs';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { inputSize, type Dataset, type Job, type JobData } from './job.js';

function invalid(job: Job, why: string): never {
  throw new RingtrainError(ErrorCodes.JOB_INVALID, `job ${job.name}: ${why}`);
}

function shapeText(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** What a value is, in the words a job author would recognise (`a plain Array`, `a Float64Array`). */
function kindOf(v: unknown): string {
  if (v === undefined || v === null) return String(v);
  if (Array.isArray(v)) return 'a plain Array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return `a ${typeof v}`;
}

/**
 * The model must take one input of `job.inputShape` and give one output. Its output width must be
 * `job.outputSize`, except for one-column targets (class ids), whose model may output one score
 * per class.
 */
export function checkModel(job: Job, model: TF.LayersModel): void {
  if (model.inputs.length !== 1) invalid(job, `the model has ${model.inputs.length} inputs; ringtrain feeds exactly one input of shape ${shapeText(job.inputShape)}`);
  if (model.outputs.length !== 1) invalid(job, `the model has ${model.outputs.length} outputs; ringtrain trains models with exactly one output`);
  const inShape = model.inputs[0]!.shape.slice(1);
  if (inShape.length !== job.inputShape.length || inShape.some((d, i) => d !== job.inputShape[i])) {
    invalid(job, `the model's input shape ${shapeText(inShape)} differs from inputShape ${shapeText(job.inputShape)}`);
  }
  const outShape = model.outputs[0]!.shape.slice(1);
  const width = outShape.reduce<number>((a, d) => a * (d ?? NaN), 1);
  if (job.outputSize !== 1 && width !== job.outputSize) {
    invalid(job, `the model's output shape ${shapeText(outShape)} does not give outputSize ${job.outputSize} values per sample`);
  }
}

function checkSplit(job: Job, name: string, d: Dataset | undefined, minSize: number): void {
  if (typeof d !== 'object' || d === null) invalid(job, `loadData() returned no ${name} split (an object { x, y, size })`);
  const { size } = d;
  if (!Number.isInteger(size) || size < minSize) invalid(job, `${name}.size must be an integer of at least ${minSize} (got ${String(size)})`);
  const widths = { x: inputSize(job), y: job.outputSize };
  for (const key of ['x', 'y'] as const) {
    const arr: unknown = d[key];
    if (!(arr instanceof Float32Array)) invalid(job, `${name}.${key} is ${kindOf(arr)}; it must be a Float32Array (row-major, size × ${widths[key]} values)`);
    if (arr.length !== size * widths[key]) {
      invalid(job, `${name}.${key} holds ${arr.length} values, but ${name}.size ${size} × ${key === 'x' ? 'inputSize' : 'outputSize'} ${widths[key]} = ${size * widths[key]}`);
    }
  }
}

/** Every split is typed and agrees with its `size` and the job's input and output widths. */
export function checkData(job: Job, data: JobData, opts: { trainFromFile?: boolean } = {}): void {
  if (typeof data !== 'object' || data === null) invalid(job, `loadData() must return { train, test, validation? } (got ${kindOf(data)})`);
  // With --data-file the training rows come from the packed file, so the job's own train split may be empty.
  checkSplit(job, 'train', data.train, opts.trainFromFile === true ? 0 : 1);
  checkSplit(job, 'test', data.test, 1);
  if (data.validation !== undefined) checkSplit(job, 'validation', data.validation, 1);
}
