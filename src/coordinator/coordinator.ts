/**
 * The coordinator: loads the job and data, then hands the run to the generation loop (run.ts),
 * and finally saves the model and reports a summary. It is never on the gradient path. A fault
 * that no membership change can fix fails every rank together with the same error.
 */
import { join, resolve } from 'node:path';
import { ControlServer } from '../shared/transport/control-server.js';
import { DataService } from './data-service.js';
import { Run, type CommSummary } from './run.js';
import { configFingerprint, loadCheckpoint, removeStaleTemps } from './checkpoint.js';
import { checkState } from './state-check.js';
import { saveJson, saveModel } from './output.js';
import { checkOutputWritable, checkResumeDir } from './path-checks.js';
import { claimOutput } from './output-guard.js';
import { RunEvents, type RunObserver } from './run-events.js';
import { selectEngine } from '../shared/engine/backend.js';
import { Trainer } from '../shared/engine/trainer.js';
import { clipNormOf, resolveOptimizer } from '../shared/optim/index.js';
import { initialState } from '../shared/engine/replica.js';
import { weightsFrom } from './init-from.js';
import { samplesPerRankStep, type CoordinatorConfig } from '../shared/config/config.js';
import { ErrorCodes, RingtrainError, logStack, toRingtrainError } from '../shared/base/errors.js';
import { checksum } from '../shared/kernels/flat.js';
import { Defaults } from '../shared/base/constants.js';
import { createLogger, type Logger } from '../shared/base/logger.js';
import type { StepTimings, TrainParams } from '../shared/protocol/protocol.js';
import { coordinatorInboundLimit } from '../shared/base/limits.js';
import { modelFingerprint } from '../shared/engine/fingerprint.js';
import { accuracyMode, evaluate, warmUpEvaluation } from '../jobs/evaluate.js';
import { checkData, checkModel } from '../shared/job/validate.js';
import { specOf } from '../shared/job/spec.js';
import { isJobPath, loadJob } from '../jobs/registry.js';
import type { RunRecord } from '../jobs/run-record.js';
import { VERSION } from '../shared/base/version.js';

/** The `--json` summary line. */
export interface RunSummary {
  event: 'summary';
  job: string;
  workers: number;
  epochs: number;
  /** Steps applied over the whole run (across generations and restarts). */
  steps: number;
  /** Sample-weighted mean training loss over the last epoch. */
  finalLoss: number;
  testLoss: number;
  testAccuracy: number | null;
  replicaChecksums: string[];
  samplesPerSec: number;
  wallSeconds: number;
  /**
   * Seconds from the command (this coordinator process's start) to the first committed training
   * step: start-up of the coordinator, workers, ring and engines (null when no step was taken).
   */
  firstStepSeconds: number | null;
  /** Samples trained in each epoch (equals the training-set size when nothing is lost or repeated). */
  samplesPerEpoch: number[];
  duplicateSamples: number;
  missingSamples: number;
  /** Generations formed by this coordinator (1 = no membership change). */
  generations: number;
  committedStepsLost: number;
  resumedFromStep: number | null;
  engines: string[];
  /** Per rank: the device its engine computes on, and its intra-op threads (null: the engine's default). */
  devices: string[];
  threads: (number | null)[];
  /** Mean per-step timings (ms) of the slowest rank: waitMs near 0 shows prefetch keeps up. */
  stepTimings: StepTimings;
  /** Steps whose update every rank skipped because the all-reduced loss or gradient was not finite. */
  nonFiniteSkips: number;
  /**
   * Communication of the slowest rank per step, summed: all-reduce wall time, the part the step
   * waited for after compute, and the share hidden behind compute (gradient buckets).
   */
  comm: CommSummary;
  /** The update rule: optimizer, its normalised configuration (schedule included), clipping bound (0: none). */
  optimizer: { name: string; config: Readonly<Record<string, number | boolean | string>>; clipNorm: number };
  /** Learning rate of the last step applied (the schedule's). */
  finalLr: number;
  output: string;
  /** The run's settings, as its models record them too (see RunRecord). */
  seed: number;
  batchSize: number;
  accumulate: number;
  lr: number;
  compress: string;
  jobSpec: string;
  version: string;
}

export interface CoordinatorHandle {
  port: number;
  /** 'wss' when the coordinator serves TLS. */
  scheme: 'ws' | 'wss';
  /** Settles when the run ends: the summary, or the error that stopped every rank. */
  result: Promise<RunSummary>;
  /** Ctrl-C: stops at the next step, saves the newest agreed weights as the model, then fails with RT_ABORTED. */
  interrupt(): void;
  /** Aborts the run (if still going) and closes the server. */
  close(reason?: Error): Promise<void>;
}

function defaultOutput(job: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return join('runs', `${job.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${stamp}`);
}

export async function launchCoordinator(cfg: CoordinatorConfig, opts: { logger?: Logger; observers?: readonly RunObserver[] } = {}): Promise<CoordinatorHandle> {
  const t0 = performance.now();
  const log = opts.logger ?? createLogger('coordinator', cfg.logLevel);
  // Progress, metrics, dashboard and exports listen here (see run-events.ts).
  const events = new RunEvents(opts.observers ?? [], log);
  // Everything that can be wrong with the job or the checkpoint is found before a socket opens.
  const job = await loadJob(cfg.job);
  // The coordinator is no rank: its load is the reference every worker's split is compared with.
  const data = await specOf(job).loadData({ seed: cfg.seed, rank: null, worldSize: null });
  checkData(job, data, { trainFromFile: Boolean(cfg.dataFile) });
  // --data-file: the training split is a packed file the coordinator only indexes (the job's own
  // train split is unused; its test split stays in memory for evaluation).
  const train = cfg.dataFile ? await DataService.fromFile(cfg.dataFile, job, cfg.seed) : new DataService(data.train, job, cfg.seed);
  const engine = await selectEngine('auto', log);
  const evaluator = Trainer.create(engine.tf, job, cfg.seed);
  checkModel(job, evaluator.model);
  // Class ids are checked against the model's classes, which only the model knows.
  checkData(job, data, { trainFromFile: Boolean(cfg.dataFile), model: evaluator.model });
  if (accuracyMode(job) === 'class-ids') log.info({ job: job.name }, 'accuracy: targets are class ids (int32, or one column)');
  warmUpEvaluation(engine.tf, job, evaluator.model, data.test);
  // A cosine schedule without --lr-decay-steps decays over the steps the run plans at
  // --min-workers (more workers take fewer, larger steps and end before the rate reaches 0).
  const plannedSteps = cfg.epochs * Math.ceil(data.train.size / (samplesPerRankStep(cfg) * cfg.minWorkers));
  const optimizer = resolveOptimizer({ ...cfg.optim, lr: cfg.lr }, plannedSteps);
  const trainParams: TrainParams = {
    epochs: cfg.epochs, batchSize: cfg.batchSize, seed: cfg.seed, checksumEvery: cfg.checksumEvery,
    stepTimeoutMs: cfg.stepTimeoutMs, onNonfinite: cfg.onNonfinite,
    optimizer: { name: optimizer.name, config: optimizer.getConfig() }, clipNorm: clipNormOf(cfg.optim?.['clipNorm']),
    compress: cfg.compress ?? 'none', accumulate: cfg.accumulate ?? 1,
  };
  const fingerprint = configFingerprint({
    // Samples per rank and step: --accumulate K with batch B is the same optimisation as batch K·B.
    job: job.name, seed: cfg.seed, batchSize: samplesPerRankStep(cfg), optimizer: trainParams.optimizer, clipNorm: trainParams.clipNorm,
    shapes: evaluator.params.map((p) => p.shape),
  });
  // --init-from: a saved model's weights (shapes checked here, before a socket opens), fresh optimizer state.
  const startWeights = cfg.initFrom ? await weightsFrom(engine.tf, cfg.initFrom, evaluator) : evaluator.getWeights();
  if (cfg.initFrom) log.info({ from: cfg.initFrom, params: startWeights.length }, 'starting from saved weights');
  const output = cfg.output ?? cfg.resume ?? defaultOutput(job.name);
  if (cfg.resume) await checkResumeDir(cfg.resume);
  await checkOutputWritable(output);
  const runFingerprint = train.runFingerprint(fingerprint);
  const resume = cfg.resume ? await loadCheckpoint(cfg.resume, runFingerprint) : null;
  if (resume) {
    // The same checks as a state offered by a worker: it must fit this model, data, run and optimizer.
    const why = checkState(resume.state, {
      paramCount: evaluator.paramCount, dataSize: train.size, epochs: cfg.epochs, maxStep: Number.MAX_SAFE_INTEGER, optimizer,
    });
    if (why !== null) throw new RingtrainError(ErrorCodes.BAD_CHECKPOINT, `checkpoint in ${cfg.resume} is damaged or not of this run: ${why}`);
  }
  const stale = await removeStaleTemps(output);
  if (stale.length > 0) log.info({ dir: output, files: stale }, 'removed temporary checkpoint files of an interrupted write');
  await claimOutput(output, { resume: resume !== null && output === cfg.resume, overwrite: cfg.overwrite === true });
  if (resume) log.info({ from: cfg.resume, step: resume.state.step, epoch: resume.state.epoch }, 'resuming from checkpoint');
  const sec = cfg.security;
  const server = await ControlServer.listen(cfg.host, cfg.port, log, { token: sec.token, tls: sec.tls, insecure: sec.insecure, maxPayload: coordinatorInboundLimit(evaluator.paramCount) });
  log.info({ host: cfg.host, port: server.port, job: job.name, train: train.size, ...(cfg.dataFile ? { dataFile: cfg.dataFile } : {}), test: data.test.size, params: evaluator.paramCount }, 'coordinator listening');

  /** What every saved model and the summary record about this run. */
  const record = (step: number, workers: number | null, engines: string[] | null): RunRecord => ({
    job: job.name, jobSpec: isJobPath(cfg.job) ? resolve(cfg.job) : cfg.job, seed: cfg.seed, epochs: cfg.epochs, batchSize: cfg.batchSize,
    accumulate: cfg.accumulate ?? 1, lr: cfg.lr, compress: cfg.compress ?? 'none', workers, engines, step, version: VERSION,
  });

  const run = new Run({
    cfg: { ...cfg, output }, jobName: job.name, server, data: train, log, events, trainParams, fingerprint: runFingerprint, resume,
    saveModel: (params, dir, step) => {
      evaluator.setWeights(params);
      return saveModel(engine.tf, evaluator.model, dir, record(step, null, null));
    },
    initial: initialState(startWeights, optimizer),
    lrAt: (step) => optimizer.lrAt(step),
    optimizer,
    modelFingerprint: modelFingerprint(evaluator),
    evaluate: (params) => {
      evaluator.setWeights(params);
      return { test: evaluate(engine.tf, job, evaluator.model, data.test), validation: data.validation ? evaluate(engine.tf, job, evaluator.model, data.validation) : null };
    },
  });

  async function execute() {
    const out = await run.execute();
    const replicaChecksums = (out.lastCommit?.checksums ?? []).map((c) => c ?? '');
    if (replicaChecksums.length > 0 && checksum(out.finalState.params) !== replicaChecksums[0]) {
      throw new RingtrainError(ErrorCodes.REPLICA_DIVERGED, 'the final state rank 0 sent does not match its reported checksum');
    }
    evaluator.setWeights(out.finalState.params);
    const rec = record(out.finalState.step, out.workers, out.engines);
    await saveModel(engine.tf, evaluator.model, output, rec);
    await run.finish();
    const last = out.epochs[out.epochs.length - 1];
    const acc = out.accounting.report(cfg.epochs);
    const summary: RunSummary = {
      event: 'summary', job: job.name, workers: out.workers, epochs: cfg.epochs, steps: out.finalState.step,
      finalLoss: last?.trainLoss ?? NaN, testLoss: last?.testLoss ?? NaN, testAccuracy: last?.testAccuracy ?? null, replicaChecksums,
      samplesPerSec: out.samplesTrained / Math.max(1e-9, out.trainSeconds), wallSeconds: (performance.now() - t0) / 1000,
      firstStepSeconds: out.firstStepSeconds, samplesPerEpoch: acc.samplesPerEpoch, duplicateSamples: acc.duplicateSamples, missingSamples: acc.missingSamples,
      generations: out.generations, committedStepsLost: out.committedStepsLost, resumedFromStep: out.resumedFromStep,
      engines: out.engines, devices: out.devices, threads: out.threads, stepTimings: out.stepTimings, nonFiniteSkips: out.nonFiniteSkips, comm: out.comm,
      optimizer: { ...trainParams.optimizer, clipNorm: trainParams.clipNorm }, finalLr: optimizer.lrAt(Math.max(0, out.finalState.step - 1)),
      output,
      seed: rec.seed, batchSize: rec.batchSize, accumulate: rec.accumulate, lr: rec.lr, compress: rec.compress, jobSpec: rec.jobSpec, version: rec.version,
    };
    await saveJson(output, 'summary.json', summary);
    // The headline only: the whole summary is in summary.json (and on stdout with --json).
    log.info({ steps: summary.steps, finalLoss: summary.finalLoss, testLoss: summary.testLoss, testAccuracy: summary.testAccuracy, samplesPerSec: summary.samplesPerSec, wallSeconds: summary.wallSeconds, output }, 'run complete');
    return summary;
  }

  let interrupting = false;
  /** Ctrl-C: the newest state every rank agreed on becomes the run's model. */
  async function saveInterrupted(e: RingtrainError): Promise<RingtrainError> {
    const st = run.latestState();
    if (st.step === 0) return new RingtrainError(ErrorCodes.ABORTED, 'interrupted before the first step; no model saved');
    try {
      evaluator.setWeights(st.params);
      await saveModel(engine.tf, evaluator.model, output, record(st.step, null, null));
      return new RingtrainError(ErrorCodes.ABORTED, `interrupted: the model of step ${st.step} (epoch ${st.epoch + (st.cursor > 0 ? 1 : 0)}) is saved in ${output}`);
    } catch (saveErr) {
      log.warn({ err: saveErr instanceof Error ? saveErr.message : String(saveErr) }, 'interrupted, and the model could not be saved');
      return e;
    }
  }

  let closed = false;
  const result = execute().then(
    async (s) => {
      closed = true;
      await server.close();
      await events.emit('onEnd', { ok: true });
      evaluator.dispose();
      return s;
    },
    async (err: unknown) => {
      let e = toRingtrainError(err);
      if (interrupting) e = await saveInterrupted(e);
      log.error({ code: e.code, err: e.message }, 'run failed');
      logStack(log, e);
      run.failAll(e.code, e.message);
      closed = true;
      await server.close();
      await events.emit('onEnd', { ok: false, error: { code: e.code, message: e.message } });
      evaluator.dispose();
      throw e;
    },
  );
  // The caller owns the promise; keep an unobserved failure from crashing the process.
  result.catch(() => undefined);

  return {
    port: server.port,
    scheme: server.scheme,
    result,
    interrupt(): void {
      if (closed || interrupting) return;
      interrupting = true;
      run.interrupt();
      // Survivors that do not answer in time are not waited for: abort with what we hold.
      setTimeout(() => server.events.close(new RingtrainError(ErrorCodes.ABORTED, 'interrupted')), Defaults.stateTimeoutMs + 1_000).unref();
    },
    async close(reason?: Error): Promise<void> {
      if (!closed) server.events.close(reason ?? new RingtrainError(ErrorCodes.ABORTED, 'coordinator closed'));
      await result.catch(() => undefined);
    },
  };
}
