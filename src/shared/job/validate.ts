/**
 * Checks a job's model and data against its declared tensors before any worker starts. A job is
 * user code: a model with another number of inputs, a plain array where a Float32Array belongs,
 * a `size` that disagrees with the arrays or a class id past the model's classes would otherwise
 * fail deep inside the engine (or train on silently). Each check fails with one RT_JOB_INVALID
 * line naming the tensor and what was expected against what was found.
 */
import type * as TF from '@tensorflow/tfjs';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import type { Job, Split, SplitData } from './job.js';
import { specOf, type JobSpec, type OutputSpec, type TensorSpec } from './spec.js';

function invalid(spec: JobSpec, why: string): never {
  throw new RingtrainError(ErrorCodes.JOB_INVALID, `job ${spec.name}: ${why}`);
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

function sameShape(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function listText(ts: readonly TensorSpec[]): string {
  return ts.map((t) => `${t.name} ${shapeText(t.shape)}`).join(', ');
}

/**
 * What the loss (or accuracy) needs of an output that it does not get, or null: one score per
 * class for sparse labels; for a job's own loss, the target's width when the target is wider than
 * one value (a one-value target may be a class id against any number of scores); for a built-in
 * loss, the target's values.
 */
function outputNeeds(o: OutputSpec, got: readonly (number | null)[]): string | null {
  const width = got.reduce<number>((a, d) => a * (d ?? NaN), 1);
  if (o.lossName === 'sparseCategoricalCrossentropy') {
    const c = got[0];
    return got.length === 1 && c !== null && c !== undefined && c >= 2 ? null : 'sparseCategoricalCrossentropy needs one score per class ([classes], at least 2)';
  }
  if (o.accuracy === 'class-ids' && got.length !== 1) return 'accuracy on class ids needs one row of class scores ([classes] or [1])';
  if (o.lossName === 'custom' && o.elements === 1) return null;
  return width === o.elements ? null : `target "${o.name}" ${shapeText(o.shape)} needs ${o.elements} values per sample`;
}

/**
 * The model must take one input per declared input, in order and of the declared shapes, and
 * give one output per declared output of the shape its loss needs.
 */
export function checkModel(job: Job, model: TF.LayersModel): void {
  const spec = specOf(job);
  if (model.inputs.length !== spec.inputs.length) {
    invalid(spec, `the model has ${count(model.inputs.length, 'input')}; the job declares ${spec.inputs.length} (${listText(spec.inputs)})`);
  }
  spec.inputs.forEach((t, i) => {
    const got = model.inputs[i]!.shape.slice(1);
    if (!sameShape(got, t.shape)) invalid(spec, `input "${t.name}": the model's input ${i} has shape ${shapeText(got)}, the job declares ${shapeText(t.shape)}`);
  });
  if (model.outputs.length !== spec.outputs.length) {
    invalid(spec, `the model has ${count(model.outputs.length, 'output')}; the job declares ${spec.outputs.length} (${listText(spec.outputs)})`);
  }
  spec.outputs.forEach((o, i) => {
    const got = model.outputs[i]!.shape.slice(1);
    const need = outputNeeds(o, got);
    if (need !== null) invalid(spec, `output "${o.name}": the model's output ${i} has shape ${shapeText(got)}; ${need}`);
  });
}

function checkTensor(spec: JobSpec, where: string, t: TensorSpec, arr: unknown, size: number): void {
  const want = t.dtype === 'int32' ? Int32Array : Float32Array;
  if (!(arr instanceof want)) {
    invalid(spec, `${where}.${t.name} is ${kindOf(arr)}; it must be a${t.dtype === 'int32' ? 'n Int32Array' : ' Float32Array'} (row-major, size × ${t.elements} values)`);
  }
  if (arr.length !== size * t.elements) {
    invalid(spec, `${where}.${t.name} holds ${arr.length} values, but ${where}.size ${size} × ${t.elements} values per row ${shapeText(t.shape)} = ${size * t.elements}`);
  }
}

/** Class ids must index the model's scores: a label past them trains as an all-zero one-hot row. */
function checkLabels(spec: JobSpec, where: string, o: OutputSpec, arr: Int32Array, classes: number): void {
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i]!;
    if (v < 0 || v >= classes) invalid(spec, `${where}.${o.name}[${i}] is ${v}; class ids must lie in [0, ${classes}) (the model's output has ${classes} classes)`);
  }
}

function checkSplit(spec: JobSpec, where: string, d: Split | undefined, minSize: number, classes: (number | null)[]): void {
  const example = spec.tensors.length === 2 && spec.tensors[0]!.name === 'x' ? '{ x, y, size }' : '{ size, tensors: { ... } }';
  if (typeof d !== 'object' || d === null) invalid(spec, `loadData() returned no ${where} split (an object ${example})`);
  const { size } = d;
  if (!Number.isInteger(size) || size < minSize) invalid(spec, `${where}.size must be an integer of at least ${minSize} (got ${String(size)})`);
  const tensors: unknown = d.tensors;
  if (typeof tensors !== 'object' || tensors === null) invalid(spec, `${where}.tensors is ${kindOf(tensors)}; it must map each tensor name to its rows`);
  for (const t of spec.tensors) checkTensor(spec, where, t, Reflect.get(tensors, t.name), size);
  spec.outputs.forEach((o, i) => {
    const n = classes[i] ?? null;
    if ((o.dtype === 'int32' && o.accuracy !== null) || o.lossName === 'sparseCategoricalCrossentropy') {
      if (n !== null) checkLabels(spec, where, o, d.tensors[o.name] as Int32Array, n);
    }
  });
}

/**
 * Every split is typed and agrees with its `size` and the declared tensors; int32 class ids lie
 * within the classes of `model` (when given).
 */
export function checkData(job: Job, data: SplitData, opts: { trainFromFile?: boolean; model?: TF.LayersModel } = {}): void {
  const spec = specOf(job);
  if (typeof data !== 'object' || data === null) invalid(spec, `loadData() must return { train, test, validation? } (got ${kindOf(data)})`);
  const classes = spec.outputs.map((o, i) => {
    const shape = opts.model?.outputs[i]?.shape;
    return o.dtype === 'int32' && shape !== undefined && shape.length === 2 && (shape[1] ?? 0) >= 2 ? shape[1]! : null;
  });
  // With --data-file the training rows come from the packed file, so the job's own train split may be empty.
  checkSplit(spec, 'train', data.train, opts.trainFromFile === true ? 0 : 1, classes);
  checkSplit(spec, 'test', data.test, 1, classes);
  if (data.validation !== undefined) checkSplit(spec, 'validation', data.validation, 1, classes);
}
