/**
 * Loading a saved model back: a file-based IO handler for `tf.loadLayersModel` (the pure-JS
 * tfjs package has no file:// loader; tfjs-node's is not always installed), and `ringtrain eval`,
 * which scores a saved model on its job's test split. The manifest is read as untrusted input:
 * its shape is checked, and weight paths must stay inside the model's folder.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { evaluate, type EvalResult } from './evaluate.js';
import type { Tfjs } from '../shared/job/job.js';
import { loadJob } from './registry.js';
import { specOf } from '../shared/job/spec.js';
import { checkModel } from '../shared/job/validate.js';
import { selectEngine } from '../shared/engine/backend.js';
import type { BackendName } from '../shared/config/config.js';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import type { Logger } from '../shared/base/logger.js';

function bad(dir: string, why: string): never {
  throw new RingtrainError(ErrorCodes.MODEL_MISMATCH, `${join(dir, 'model.json')} is not a TensorFlow.js Layers model: ${why}`);
}

async function readOrFail(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new RingtrainError(ErrorCodes.BAD_CONFIG, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

const DTYPES = ['float32', 'int32', 'bool', 'string', 'complex64'] as const;

/** One weight entry, checked field by field instead of trusted. */
function weightEntry(dir: string, raw: unknown): TF.io.WeightsManifestEntry {
  if (typeof raw !== 'object' || raw === null) bad(dir, 'a weight entry is not an object');
  const name: unknown = Reflect.get(raw, 'name');
  const shape: unknown = Reflect.get(raw, 'shape');
  const dtype: unknown = Reflect.get(raw, 'dtype');
  if (typeof name !== 'string') bad(dir, 'a weight entry has no name');
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) bad(dir, `weight ${name} has a bad shape`);
  const dt = DTYPES.find((d) => d === dtype);
  if (dt === undefined) bad(dir, `weight ${name} has unsupported dtype ${String(dtype)}`);
  return { name, shape: shape.map(Number), dtype: dt };
}

/** An IO handler that loads `dir/model.json` and the weight files its manifest names. */
export function fileModelHandler(dir: string): TF.io.IOHandler {
  return {
    async load(): Promise<TF.io.ModelArtifacts> {
      let manifest: unknown;
      try {
        manifest = JSON.parse((await readOrFail(join(dir, 'model.json'))).toString('utf8'));
      } catch (err) {
        if (err instanceof RingtrainError) throw err;
        bad(dir, `invalid JSON (${err instanceof Error ? err.message : String(err)})`);
      }
      if (typeof manifest !== 'object' || manifest === null) bad(dir, 'not an object');
      const topology: unknown = Reflect.get(manifest, 'modelTopology');
      if (typeof topology !== 'object' || topology === null) bad(dir, 'no modelTopology');
      const groups: unknown = Reflect.get(manifest, 'weightsManifest');
      const format: unknown = Reflect.get(manifest, 'format');
      if (!Array.isArray(groups)) bad(dir, 'no weightsManifest');
      const specs: TF.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of groups as unknown[]) {
        if (typeof group !== 'object' || group === null) bad(dir, 'a weightsManifest entry is not an object');
        const paths: unknown = Reflect.get(group, 'paths');
        const weights: unknown = Reflect.get(group, 'weights');
        if (!Array.isArray(paths) || !Array.isArray(weights)) bad(dir, 'a weightsManifest entry lacks paths or weights');
        for (const p of paths as unknown[]) {
          const rel = typeof p === 'string' ? normalize(p) : bad(dir, 'a weight path is not a string');
          if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) bad(dir, `weight path ${p} leaves the model folder`);
          buffers.push(await readOrFail(join(dir, rel)));
        }
        for (const w of weights as unknown[]) specs.push(weightEntry(dir, w));
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: topology,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        format: typeof format === 'string' ? format : 'layers-model',
      };
    },
  };
}

/** `tf.loadLayersModel` over the file handler. */
export function loadSavedModel(tf: Tfjs, dir: string): Promise<TF.LayersModel> {
  return tf.loadLayersModel(fileModelHandler(dir));
}

export interface SavedEvalResult extends EvalResult {
  event: 'eval';
  job: string;
  model: string;
  samples: number;
  /** The seed the split was built with (the training run's). */
  seed: number;
  engine: string;
}

/** Scores the model saved in `dir` on the test split of `jobSpec` (built with the run's `seed`). */
export async function evaluateSaved(dir: string, jobSpec: string, seed: number, backend: BackendName, log: Logger): Promise<SavedEvalResult> {
  const job = await loadJob(jobSpec);
  const engine = await selectEngine(backend, log);
  const model = await loadSavedModel(engine.tf, dir);
  try {
    const data = await specOf(job).loadData({ seed, rank: null, worldSize: null });
    try {
      checkModel(job, model);
    } catch (err) {
      throw new RingtrainError(ErrorCodes.MODEL_MISMATCH, `the model in ${dir} does not fit ${err instanceof Error ? err.message : String(err)}`);
    }
    const r = evaluate(engine.tf, job, model, data.test);
    return { event: 'eval', job: job.name, model: dir, samples: data.test.size, seed, engine: engine.name, ...r };
  } finally {
    model.dispose();
  }
}
