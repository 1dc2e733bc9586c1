/**
 * Resolves `--job`: a built-in name, or a path to the user's own module. Paths are only ever taken
 * from the local command line; a job named by the network is looked up among built-ins only.
 */
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import type { Job } from '../shared/job/job.js';
import { specOf } from '../shared/job/spec.js';
import { mnistCnn } from './mnist-cnn.js';
import { mnistMlp } from './mnist-mlp.js';
import { mnistInt } from './mnist-int.js';
import { mnistMulti } from './mnist-multi.js';
import { regressionMlp } from './regression-mlp.js';

const BUILTINS = {
  'mnist-mlp': mnistMlp,
  'mnist-cnn': mnistCnn,
  'regression-mlp': regressionMlp,
  'mnist-int': mnistInt,
  'mnist-multi': mnistMulti,
};

/** The built-in jobs by name (each typed as its own API version). */
export const BUILTIN_JOBS: Readonly<typeof BUILTINS> & Readonly<Record<string, Job>> = BUILTINS;

/** True when the spec names a module path rather than a built-in. */
export function isJobPath(spec: string): boolean {
  return spec.startsWith('.') || spec.startsWith('/') || /\.(c|m)?js$/.test(spec);
}

function validateJob(candidate: unknown, spec: string): Job {
  const fail = (why: string): never => {
    throw new RingtrainError(ErrorCodes.JOB_LOAD, `job module ${spec} is not a valid job: ${why}`);
  };
  if (typeof candidate !== 'object' || candidate === null) return fail('it exports no job object (default export or `job`)');
  const c = candidate as Record<string, unknown>;
  if (typeof c['name'] !== 'string') fail('`name` must be a string');
  for (const fn of ['createModel', 'loadData']) if (typeof c[fn] !== 'function') fail(`\`${fn}\` must be a function`);
  if ('inputs' in c || 'outputs' in c) {
    // v2: the declarations themselves are checked by specOf (RT_JOB_INVALID naming the tensor).
    if (!Array.isArray(c['inputs']) || !Array.isArray(c['outputs'])) fail('a v2 job declares `inputs` and `outputs` as arrays');
    specOf(candidate as Job);
    return candidate as Job;
  }
  if (!Array.isArray(c['inputShape']) || !c['inputShape'].every((d) => Number.isInteger(d) && d > 0)) fail('`inputShape` must be an array of positive integers (or declare v2 `inputs` and `outputs`)');
  if (!Number.isInteger(c['outputSize']) || (c['outputSize'] as number) <= 0) fail('`outputSize` must be a positive integer');
  if (typeof c['loss'] !== 'function') fail('`loss` must be a function');
  return candidate as Job;
}

/** Loads a job from a built-in name or a local module path. */
export async function loadJob(spec: string): Promise<Job> {
  const builtin = BUILTIN_JOBS[spec];
  if (builtin) return builtin;
  if (!isJobPath(spec)) {
    throw new RingtrainError(ErrorCodes.UNKNOWN_JOB, `unknown job "${spec}"; built-in jobs are ${Object.keys(BUILTIN_JOBS).join(', ')}, or give a module path such as ./my-job.js`);
  }
  const file = resolve(spec);
  if (!existsSync(file)) throw new RingtrainError(ErrorCodes.UNKNOWN_JOB, `job module ${file} does not exist`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new RingtrainError(ErrorCodes.JOB_LOAD, `job module ${file} failed to load: ${err instanceof Error ? err.message : String(err)}`);
  }
  return validateJob(mod['default'] ?? mod['job'], file);
}
