/**
 * `fit()`: training from a program, the way tfjs's `model.fit` is called. It runs the coordinator
 * in this process and starts the worker processes on this machine as `ringtrain local` does (real
 * child processes over loopback sockets), or none, for workers that join from other machines. It
 * resolves, once the model is saved, to a tfjs-style History plus the run's summary.
 */
import type { CoordinatorHandle, RunSummary } from '../coordinator/coordinator.js';
import { MetricsLog } from '../coordinator/ops/metrics-log.js';
import { BestModelExport } from '../coordinator/ops/best-model.js';
import type { Job } from '../shared/job/job.js';
import { FitObserver, type History } from './fit-history.js';
import { planFit, type LaunchSettings, type TrainingSettings } from './fit-options.js';
import { runLocal } from './local.js';
import { jobModulePath, prepareJob, writeJobModule, type ModelJob } from './job-module.js';
import { loadSavedModel } from '../jobs/saved-model.js';
import { tf } from '../shared/engine/tfjs.js';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import { dirname, join } from 'node:path';
import { saveModel } from '../coordinator/output.js';
import type * as TF from '@tensorflow/tfjs';

/**
 * The job to train: a built-in name (`'mnist-mlp'`), a path to a job module (`'./my-job.js'`), a
 * `Job` object, or a tfjs model with its data and a named loss (`{ model, data, loss }`). Objects
 * are written out as a job module in the run's output folder (`job/`), which the worker
 * processes import: see README "Library API" for what travels and what must be a module path.
 */
export type FitJob = string | Job | ModelJob;

/** fit()'s options: the job, how to run it, and the run's settings (as the CLI's flags). */
export interface FitOptions extends TrainingSettings, LaunchSettings {
  job: FitJob;
}

/** What fit() resolves to: tfjs's History fields, and the run's summary (as `--json` prints it). */
export interface FitResult extends History {
  summary: RunSummary;
}

/**
 * Trains `options.job` data-parallel on `options.workers` local worker processes (default 2) and
 * resolves once the model is saved in the output folder.
 *
 * Settings absent from `options` take the job's defaults, then the CLI's. Every option is checked
 * before any worker starts: a bad one rejects with a one-line `RingtrainError` (`RT_BAD_CONFIG`;
 * a bad job: `RT_UNKNOWN_JOB`, `RT_JOB_LOAD`, `RT_JOB_INVALID`). A failed run rejects with the
 * error that stopped every rank. Callbacks run in this process after each step and epoch; one that
 * sets `control.stopTraining = true` ends the run cleanly (the model is saved as at a normal end,
 * `summary.stopped` is true). Ctrl-C while fit() runs saves the newest weights and rejects with
 * `RT_ABORTED`, as the CLI does.
 *
 * @example
 * const { history, summary } = await fit({ job: 'regression-mlp', workers: 2, epochs: 3 });
 */
export async function fit(options: FitOptions): Promise<FitResult> {
  if (typeof options !== 'object' || options === null) throw new RingtrainError(ErrorCodes.BAD_CONFIG, 'fit() takes one options object');
  const prepared = prepareJob(options.job);
  let spec: string;
  let output = options.output;
  if (prepared.kind === 'spec') spec = prepared.spec;
  else {
    // The job module is written into the run's output folder, so that folder is fixed here.
    output ??= options.resume ?? defaultOutput(prepared.job.name);
    spec = jobModulePath(output);
  }
  // A model given to fit() trains on from the weights it holds, as tfjs's model.fit does.
  const model = prepared.kind === 'object' ? prepared.model : null;
  const initDir = model && options.initFrom === undefined && options.resume === undefined ? join(dirname(spec), 'init') : undefined;
  const plan = await planFit({ ...options, ...(output === undefined ? {} : { output }), ...(initDir ? { initFrom: initDir } : {}) } as unknown as Record<string, unknown>, spec, prepared.job);
  if (prepared.kind === 'object') await writeJobModule(spec, prepared.job, prepared.lossSource, plan.cfg.seed, tf);
  if (model && initDir) await saveModel(tf, model, initDir);
  let handle: CoordinatorHandle | null = null;
  const observer = new FitObserver(plan.callbacks, (why) => handle?.stop(why));
  const observers = [new MetricsLog(), new BestModelExport(plan.log), observer];
  const summary = await runLocal(plan.cfg, { ...plan.local, observers, onLaunched: (h) => (handle = h) }, plan.log);
  if (observer.callbackError !== null) throw observer.callbackError;
  // As tfjs's model.fit does: the model given ends up holding the trained weights.
  if (model) await copyTrainedWeights(model, summary.output);
  return { ...observer.history, summary };
}

/** Loads the saved model's weights into `model` (same architecture: it was built from its configuration). */
async function copyTrainedWeights(model: TF.LayersModel, dir: string): Promise<void> {
  const saved = await loadSavedModel(tf, dir);
  try {
    model.setWeights(saved.getWeights());
  } finally {
    saved.dispose();
  }
}

/** runs/<name>-<time>, as the coordinator names an output folder nobody chose. */
function defaultOutput(name: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return join('runs', `${name.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${stamp}`);
}
