/**
 * What a run records about itself, in summary.json and in every model it saves (model.json's
 * `userDefinedMetadata.ringtrain`): enough to score the model later on the right test split
 * (`ringtrain eval` reads job and seed from here) and to tell runs apart.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';

export interface RunRecord {
  /** The job's name. */
  job: string;
  /** How the job was named to the coordinator: a built-in name, or the module's absolute path. */
  jobSpec: string;
  seed: number;
  epochs: number;
  /** Per-worker micro-batch; `accumulate` of them make one rank's step. */
  batchSize: number;
  accumulate: number;
  lr: number;
  compress: string;
  /** Workers and their engines at the end of the run (null in models saved before it ended). */
  workers: number | null;
  engines: string[] | null;
  /** Optimizer steps the weights include. */
  step: number;
  /** The ringtrain version that trained the model. */
  version: string;
}

/** The record in `dir/model.json`, or null when the model carries none (saved by something else). */
export async function readRunRecord(dir: string): Promise<RunRecord | null> {
  let manifest: unknown;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  } catch {
    return null; // loading the model reports what is wrong with it
  }
  const meta: unknown = typeof manifest === 'object' && manifest !== null ? Reflect.get(manifest, 'userDefinedMetadata') : null;
  const rec: unknown = typeof meta === 'object' && meta !== null ? Reflect.get(meta, 'ringtrain') : null;
  if (typeof rec !== 'object' || rec === null) return null;
  const job: unknown = Reflect.get(rec, 'job');
  const jobSpec: unknown = Reflect.get(rec, 'jobSpec');
  const seed: unknown = Reflect.get(rec, 'seed');
  if (typeof job !== 'string' || typeof jobSpec !== 'string' || !Number.isInteger(seed)) return null;
  return rec as RunRecord;
}

/**
 * The job and seed `eval` uses: the flags where given, else the model's record. A seed other than
 * the training run's builds a different split, whose test samples may have been trained on (a
 * silently better score), so it is refused when the record says which seed trained the model.
 */
export function evalSettings(record: RunRecord | null, job: string | undefined, seed: number | undefined, defaultSeed: number): { jobSpec: string; seed: number } {
  if (record === null) {
    if (job === undefined) throw new RingtrainError(ErrorCodes.BAD_CONFIG, 'this model records no job (it was not saved by a ringtrain run of this version); pass --job and the training run\'s --seed');
    return { jobSpec: job, seed: seed ?? defaultSeed };
  }
  if (seed !== undefined && seed !== record.seed) {
    throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--seed ${seed} differs from the seed this model was trained with (${record.seed}): its test split would overlap the training data; omit --seed`);
  }
  return { jobSpec: job ?? record.jobSpec, seed: record.seed };
}
