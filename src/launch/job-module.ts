/**
 * How a job given to fit() as an object reaches the worker processes. Functions cannot be sent to
 * another process, so the job is written out as a plain job module in the run's output folder
 * (`job/job.mjs`, with `job.json` and one float32 file per split) which every process imports,
 * the coordinator included, exactly as a job module path given by hand:
 *
 * - the model travels as its tfjs configuration (`getConfig()`, rebuilt with `fromConfig`): any
 *   model of built-in layers, Sequential or functional; initial weights come from the seed;
 * - the data travels as the arrays `loadData(seed)` returned here, once;
 * - a named loss travels as its name; a Job's own `loss` function as its source text, which must
 *   use nothing but its arguments (tf, yTrue, yPred). That is checked before any worker starts:
 *   the written loss must give the same values as the original on a batch of the data.
 *
 * A job whose functions need more (imports, closures, custom layers) is given as a module path.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as TF from '@tensorflow/tfjs';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import { isJobV2, type Dataset, type Job, type JobData, type JobDefaults, type JobV1, type Tfjs } from '../shared/job/job.js';
import { BUILTIN_JOBS } from '../jobs/registry.js';
import { jobModuleText, LOSS_SOURCES, type LossName } from './job-module-text.js';

export { LOSS_NAMES, type LossName } from './job-module-text.js';

/** A tfjs model, its data and a named loss: what `model.compile` + `model.fit` take in tfjs. */
export interface ModelJob {
  /** Sequential or functional, of built-in layers. fit() copies the trained weights back into it. */
  model: TF.LayersModel;
  /** Rows as flat float32 arrays (see Dataset); `test` is evaluated every epoch, `validation` too when given. */
  data: JobData;
  /** Per-sample loss by tfjs's name for it; `categoricalCrossentropy` expects probabilities (softmax outputs), as in tfjs. */
  loss: LossName;
  /** Report classification accuracy (as Job.accuracy). */
  accuracy?: boolean;
  /** Name in logs and output folder names (default "model"). */
  name?: string;
  defaults?: JobDefaults;
}

/** The job fit() was given, sorted: a spec the processes resolve themselves, or an object to write out. */
export type PreparedJob =
  | { kind: 'spec'; spec: string; job?: Job }
  | { kind: 'object'; job: JobV1; lossSource: string; model: TF.LayersModel | null };

function bad(msg: string): never {
  throw new RingtrainError(ErrorCodes.BAD_CONFIG, `fit(): ${msg}`);
}

/** A function's source as an expression (arrow, function, or method shorthand), or null for native code. */
export function functionExpression(fn: (...args: never[]) => unknown): string | null {
  const src = fn.toString().trim();
  if (src.includes('[native code]')) return null;
  if (/^(async\s+)?function\b/.test(src) || /^(async\s*)?(\([^)]*\)|[A-Za-z_$][\w$]*)\s*=>/.test(src)) return `(${src})`;
  return `Object.values({ ${src} })[0]`;
}

function isModel(v: unknown): v is TF.LayersModel {
  return typeof v === 'object' && v !== null && typeof (v as { getConfig?: unknown }).getConfig === 'function' && typeof (v as { getClassName?: unknown }).getClassName === 'function';
}

/** Sorts fit()'s `job` option; refuses what cannot be a job with RT_BAD_CONFIG. */
export function prepareJob(given: unknown): PreparedJob {
  if (typeof given === 'string') return { kind: 'spec', spec: given };
  if (typeof given !== 'object' || given === null) bad(`job must be a built-in name, a module path, a Job object or { model, data, loss } (got ${String(given)})`);
  const builtin = Object.entries(BUILTIN_JOBS).find(([, j]) => j === given);
  if (builtin) return { kind: 'spec', spec: builtin[0], job: builtin[1] };
  const g = given as Record<string, unknown>;
  if ('model' in g) return prepareModelJob(g);
  // A v2 job (named inputs and outputs) travels only as its module path for now.
  if (isJobV2(given as Job)) bad('a Job object of the v2 contract (inputs/outputs) cannot be written to a module yet; give its module path');
  for (const fn of ['createModel', 'loadData', 'loss']) if (typeof g[fn] !== 'function') bad(`a Job object needs ${fn}() (or give { model, data, loss })`);
  const lossSource = functionExpression(g['loss'] as () => unknown);
  if (lossSource === null) bad('job.loss is native code and cannot be written to a module; write it as a function of (tf, yTrue, yPred)');
  return { kind: 'object', job: given as JobV1, lossSource, model: null };
}

function prepareModelJob(g: Record<string, unknown>): PreparedJob {
  const model = g['model'];
  if (!isModel(model)) bad('job.model must be a tfjs LayersModel (tf.sequential() or tf.model())');
  const loss = g['loss'];
  const lossSource = LOSS_SOURCES[loss as LossName];
  if (typeof loss !== 'string' || lossSource === undefined) bad(`job.loss must be one of ${Object.keys(LOSS_SOURCES).join('|')} (got ${JSON.stringify(loss)})`);
  const data = g['data'] as JobData | undefined;
  if (typeof data !== 'object' || data === null || !isDataset(data.train) || !isDataset(data.test) || (data.validation !== undefined && !isDataset(data.validation))) {
    bad('job.data must be { train, test, validation? }, each { x: Float32Array, y: Float32Array, size }');
  }
  const inputShape = model.inputs[0]?.shape.slice(1);
  if (model.inputs.length !== 1 || !inputShape || !inputShape.every((d): d is number => typeof d === 'number')) bad('job.model must have one input of fixed shape');
  const name = g['name'] ?? 'model';
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) bad(`job.name must be letters, digits, _ . - (got ${JSON.stringify(name)})`);
  const config = JSON.stringify(model.getConfig());
  const cls = model.getClassName() === 'Sequential' ? 'Sequential' : 'LayersModel';
  const job: JobV1 = {
    name, inputShape, outputSize: data.train.size > 0 ? data.train.y.length / data.train.size : 1, accuracy: g['accuracy'] === true,
    ...(g['defaults'] === undefined ? {} : { defaults: g['defaults'] as JobDefaults }),
    createModel: (tf: Tfjs) => tf[cls].fromConfig(tf[cls], JSON.parse(config) as TF.serialization.ConfigDict) as TF.LayersModel,
    loadData: () => data,
    // The same expression the module gets, so here and there compute alike.
    loss: (0, eval)(lossSource) as JobV1['loss'],
  };
  return { kind: 'object', job, lossSource, model };
}

function isDataset(d: unknown): d is Dataset {
  const v = d as Dataset | undefined;
  return typeof v === 'object' && v !== null && v.x instanceof Float32Array && v.y instanceof Float32Array && Number.isInteger(v.size) && v.size > 0;
}

/** Where the job module of a run with output folder `output` goes. */
export function jobModulePath(output: string): string {
  return resolve(output, 'job', 'job.mjs');
}

/**
 * Writes `job` as a module at `file` (its data from loadData(seed)) and checks, in this process,
 * that the module builds the same model and computes the same loss as the object. On failure the
 * folder is removed and RT_BAD_CONFIG says what cannot travel.
 */
export async function writeJobModule(file: string, job: JobV1, lossSource: string, seed: number, tf: Tfjs): Promise<void> {
  const dir = resolve(file, '..');
  const data = await job.loadData(seed);
  const model = job.createModel(tf);
  const splits: Record<string, { size: number; xWidth: number; yWidth: number }> = {};
  await mkdir(dir, { recursive: true });
  try {
    for (const [key, d] of Object.entries(data) as [string, Dataset | undefined][]) {
      if (!d) continue;
      splits[key] = { size: d.size, xWidth: d.x.length / d.size, yWidth: d.y.length / d.size };
      await writeFile(join(dir, `${key}.bin`), Buffer.concat([bytes(d.x), bytes(d.y)]));
    }
    const meta = {
      name: job.name, inputShape: job.inputShape, outputSize: job.outputSize, accuracy: job.accuracy === true, defaults: job.defaults ?? {},
      model: { class: model.getClassName() === 'Sequential' ? 'Sequential' : 'LayersModel', config: model.getConfig() }, splits,
    };
    await writeFile(join(dir, 'job.json'), JSON.stringify(meta));
    await writeFile(file, jobModuleText(job.name, lossSource));
    await checkModule(file, job, model, data.train, tf);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    model.dispose();
  }
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** The written module must rebuild the model (same parameter count) and give the same loss values. */
async function checkModule(file: string, job: JobV1, model: TF.LayersModel, train: Dataset, tf: Tfjs): Promise<void> {
  let written: JobV1;
  try {
    written = ((await import(pathToFileURL(file).href)) as { default: JobV1 }).default;
  } catch (err) {
    bad(`job ${job.name} could not be written as a module: ${err instanceof Error ? err.message : String(err)}`);
  }
  const rebuilt = written.createModel(tf);
  try {
    if (rebuilt.countParams() !== model.countParams()) bad(`job ${job.name}: its model rebuilt from its configuration has ${rebuilt.countParams()} parameters, not ${model.countParams()}; give the job as a module path`);
    const n = Math.min(4, train.size);
    const inW = train.x.length / train.size;
    const outW = train.y.length / train.size;
    const [want, got] = tf.tidy(() => {
      const x = tf.tensor(train.x.subarray(0, n * inW), [n, ...job.inputShape]);
      const y = tf.tensor2d(train.y.subarray(0, n * outW), [n, outW]);
      const pred = model.predict(x) as TF.Tensor;
      let other: TF.Tensor;
      try {
        other = written.loss(tf, y, pred);
      } catch (err) {
        bad(`job ${job.name}: its loss, sent to the workers as source text, fails there (${err instanceof Error ? err.message : String(err)}); it may use only its arguments (tf, yTrue, yPred), or give the job as a module path`);
      }
      return [Array.from(job.loss(tf, y, pred).dataSync()), Array.from(other.dataSync())];
    });
    if (want.length !== got.length || want.some((v, i) => !Object.is(v, got[i]))) {
      bad(`job ${job.name}: its loss, sent to the workers as source text, computes other values there (${got.slice(0, 2).join(', ')}… for ${want.slice(0, 2).join(', ')}…); it may use only its arguments (tf, yTrue, yPred), or give the job as a module path`);
    }
  } finally {
    rebuilt.dispose();
  }
}
