/**
 * The coordinator: loads the job and data, runs rendezvous, streams batches ahead of need, commits
 * steps once every rank agrees, evaluates each epoch, saves the model and reports a summary. It is
 * never on the gradient path. Any fault fails every rank together with the same error.
 */
import { join } from 'node:path';
import { ControlServer, type ServerEvent } from './server.js';
import { rendezvous, type Member } from './rendezvous.js';
import { DataService } from './data-service.js';
import { StepCollector, type CommittedStep } from './step-control.js';
import { saveJson, saveModel } from './output.js';
import { selectEngine } from '../worker/backend.js';
import { Trainer } from '../worker/trainer.js';
import { ADAM_DEFAULTS } from '../worker/adam.js';
import { Defaults } from '../shared/constants.js';
import type { CoordinatorConfig } from '../shared/config.js';
import { ErrorCodes, RingtrainError, toRingtrainError } from '../shared/errors.js';
import { checksum } from '../shared/flat.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { TrainParams, WorkerToCoordinator } from '../shared/protocol.js';
import { evaluate, type EvalResult } from '../jobs/evaluate.js';
import { loadJob } from '../jobs/registry.js';

/** The `--json` summary line. */
export interface RunSummary {
  event: 'summary';
  job: string;
  workers: number;
  epochs: number;
  steps: number;
  /** Sample-weighted mean training loss over the last epoch. */
  finalLoss: number;
  testLoss: number;
  testAccuracy: number | null;
  replicaChecksums: string[];
  samplesPerSec: number;
  wallSeconds: number;
  /** Samples trained in each epoch (equals the training-set size when nothing is lost or repeated). */
  samplesPerEpoch: number[];
  engines: string[];
  output: string;
}

export interface CoordinatorHandle {
  port: number;
  /** Settles when the run ends: the summary, or the error that stopped every rank. */
  result: Promise<RunSummary>;
  /** Aborts the run (if still going) and closes the server. */
  close(reason?: Error): Promise<void>;
}

function defaultOutput(job: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return join('runs', `${job.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${stamp}`);
}

export async function launchCoordinator(cfg: CoordinatorConfig, opts: { logger?: Logger } = {}): Promise<CoordinatorHandle> {
  const t0 = performance.now();
  const log = opts.logger ?? createLogger('coordinator', cfg.logLevel);
  // Everything that can be wrong with the job is found before a socket opens.
  const job = await loadJob(cfg.job);
  const data = await job.loadData(cfg.seed);
  const engine = await selectEngine('auto', log);
  const evaluator = Trainer.create(engine.tf, job, cfg.seed);
  const initialWeights = evaluator.getWeights();
  const output = cfg.output ?? defaultOutput(job.name);
  const server = await ControlServer.listen(cfg.host, cfg.port, log);
  log.info({ host: cfg.host, port: server.port, job: job.name, train: data.train.size, test: data.test.size, params: evaluator.paramCount }, 'coordinator listening');

  let members: Member[] = [];
  const rankOf = new Map<number, number>();

  /** Next event for a member, handling strays (newcomers, non-members) on the way. */
  async function next(timeoutMs: number, what: () => string): Promise<{ rank: number; msg: WorkerToCoordinator }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let ev: ServerEvent;
      try {
        ev = await server.events.take(Math.max(1, deadline - Date.now()), 'workers');
      } catch (err) {
        if (err instanceof RingtrainError && err.code === ErrorCodes.TIMEOUT) throw new RingtrainError(ErrorCodes.TIMEOUT, `timed out after ${timeoutMs} ms waiting for ${what()}`);
        throw err;
      }
      const rank = rankOf.get(ev.conn.id);
      if (rank === undefined) {
        if (ev.kind === 'message' && ev.msg.type === 'hello') {
          log.warn({ conn: ev.conn.id, host: ev.msg.host }, 'worker arrived after rendezvous; refused');
          ev.conn.reject(ErrorCodes.RUN_FULL, 'this run has already started; joining a running job is not supported yet');
        }
        continue;
      }
      if (ev.kind === 'closed') throw new RingtrainError(ErrorCodes.WORKER_LOST, `worker rank ${rank} (${members[rank]!.hello.host} pid ${members[rank]!.hello.pid}) was lost: ${ev.reason}`);
      if (ev.msg.type === 'error') throw new RingtrainError(ev.msg.code, `rank ${rank} failed: ${ev.msg.message}`);
      return { rank, msg: ev.msg };
    }
  }

  async function run(): Promise<RunSummary> {
    members = await rendezvous(server, cfg.minWorkers, cfg.rendezvousTimeoutMs, log);
    members.forEach((m) => rankOf.set(m.conn.id, m.rank));
    const N = members.length;
    const generation = 1;
    const params: TrainParams = {
      epochs: cfg.epochs, batchSize: cfg.batchSize, lr: cfg.lr, seed: cfg.seed, checksumEvery: cfg.checksumEvery,
      stepTimeoutMs: cfg.stepTimeoutMs, ...ADAM_DEFAULTS,
    };
    for (const m of members) {
      m.conn.send({
        type: 'start', generation, rank: m.rank, worldSize: N, successor: N > 1 ? members[(m.rank + 1) % N]!.hello.ringUrl : null,
        job: cfg.job, params, weights: initialWeights, step: 0,
      });
    }
    const ready = new Set<number>();
    const engines: string[] = members.map(() => '');
    while (ready.size < N) {
      const { rank, msg } = await next(Defaults.ringConnectTimeoutMs * 2 + Defaults.engineStartTimeoutMs, () => `ranks ${members.filter((m) => !ready.has(m.rank)).map((m) => m.rank).join(', ')} to form the ring`);
      if (msg.type === 'ring-ready' && msg.generation === generation) {
        ready.add(rank);
        engines[rank] = msg.engine;
        log.info({ rank, engine: msg.engine, reason: msg.engineReason }, 'rank ready');
      }
      else log.warn({ rank, type: msg.type }, 'unexpected message while forming the ring dropped');
    }
    for (const m of members) m.conn.send({ type: 'go', generation });
    log.info({ workers: N, generation }, 'ring formed; training');

    const ds = new DataService(data.train, job, cfg.batchSize, N, cfg.seed);
    const total = ds.stepsPerEpoch * cfg.epochs;
    const trainStart = performance.now();
    let sent = 0;
    const sendUpTo = (limit: number): void => {
      for (; sent < Math.min(limit, total); sent++) {
        const epoch = Math.floor(sent / ds.stepsPerEpoch);
        const inEpoch = sent % ds.stepsPerEpoch;
        const last = inEpoch === ds.stepsPerEpoch - 1;
        for (const m of members) {
          const b = ds.batch(epoch, inEpoch, m.rank);
          m.conn.send({
            type: 'batch', generation, step: sent, epoch, count: b.count, x: b.x, y: b.y,
            checksum: (sent + 1) % cfg.checksumEvery === 0 || sent === total - 1,
            sendWeights: last && m.rank === 0,
          });
        }
      }
    };
    sendUpTo(Defaults.prefetchSteps);

    let epochLoss = 0;
    let epochSamples = 0;
    let totalSamples = 0;
    const samplesPerEpoch: number[] = [];
    let lastCommit: CommittedStep | null = null;
    let finalWeights: Float32Array | null = null;
    let lastEval: EvalResult = { loss: NaN, accuracy: null };
    let finalLoss = NaN;
    // Reports can run ahead of the step being committed (a rank may finish step s+1 before rank 0's
    // weights for step s arrive, since they travel on different sockets), so collect by step.
    const collectors = new Map<number, StepCollector>();
    const weightsAt = new Map<number, Float32Array>();
    const collectorFor = (s: number): StepCollector => {
      if (s >= sent) throw new RingtrainError(ErrorCodes.UNEXPECTED_MESSAGE, `a rank reported step ${s}, whose batch was never sent`);
      let c = collectors.get(s);
      if (!c) collectors.set(s, (c = new StepCollector(s, N)));
      return c;
    };
    for (let step = 0; step < total; step++) {
      const epoch = Math.floor(step / ds.stepsPerEpoch);
      const epochEnd = step % ds.stepsPerEpoch === ds.stepsPerEpoch - 1;
      const collector = collectorFor(step);
      while (!collector.complete || (epochEnd && !weightsAt.has(step))) {
        const { rank, msg } = await next(cfg.stepTimeoutMs, () => `step ${step}: still waiting for rank(s) ${collector.missing().join(', ') || '0 (weights)'}`);
        if (msg.type === 'step-done' && msg.generation === generation && msg.step >= step) collectorFor(msg.step).add(rank, msg);
        else if (msg.type === 'weights' && rank === 0 && msg.step >= step) weightsAt.set(msg.step, msg.params);
        else log.warn({ rank, type: msg.type }, 'unexpected message during training dropped');
      }
      collectors.delete(step);
      const weights = weightsAt.get(step) ?? null;
      weightsAt.delete(step);
      lastCommit = collector.commit();
      sendUpTo(step + 1 + Defaults.prefetchSteps);
      epochLoss += lastCommit.loss * lastCommit.samples;
      epochSamples += lastCommit.samples;
      totalSamples += lastCommit.samples;
      log.debug({ step, loss: lastCommit.loss, samples: lastCommit.samples, ...lastCommit.timings }, 'step');
      if (epochEnd && weights) {
        if (weights.length !== evaluator.paramCount) throw new RingtrainError(ErrorCodes.MODEL_MISMATCH, `rank 0 sent ${weights.length} weights, model has ${evaluator.paramCount}`);
        evaluator.setWeights(weights);
        lastEval = evaluate(engine.tf, job, evaluator.model, data.test);
        const val = data.validation ? evaluate(engine.tf, job, evaluator.model, data.validation) : null;
        finalLoss = epochLoss / epochSamples;
        samplesPerEpoch.push(epochSamples);
        log.info({ epoch: epoch + 1, of: cfg.epochs, step: step + 1, trainLoss: finalLoss, valLoss: val?.loss, testLoss: lastEval.loss, testAccuracy: lastEval.accuracy }, 'epoch done');
        epochLoss = 0;
        epochSamples = 0;
        finalWeights = weights;
      }
    }
    const trainSeconds = (performance.now() - trainStart) / 1000;
    const replicaChecksums = (lastCommit?.checksums ?? []).map((c) => c ?? '');
    if (finalWeights && checksum(finalWeights) !== replicaChecksums[0]) {
      throw new RingtrainError(ErrorCodes.REPLICA_DIVERGED, 'the final weights rank 0 sent do not match its reported checksum');
    }
    await saveModel(engine.tf, evaluator.model, output);
    for (const m of members) m.conn.send({ type: 'finish' });
    await Promise.all(members.map((m) => m.conn.closed(Defaults.finishTimeoutMs)));
    const summary: RunSummary = {
      event: 'summary', job: job.name, workers: N, epochs: cfg.epochs, steps: total, finalLoss, testLoss: lastEval.loss,
      testAccuracy: lastEval.accuracy, replicaChecksums, samplesPerSec: totalSamples / trainSeconds,
      wallSeconds: (performance.now() - t0) / 1000, samplesPerEpoch, engines, output,
    };
    await saveJson(output, 'summary.json', summary);
    log.info({ ...summary, event: undefined }, 'run complete');
    return summary;
  }

  let closed = false;
  const result = run().then(
    async (s) => {
      closed = true;
      await server.close();
      evaluator.dispose();
      return s;
    },
    async (err: unknown) => {
      const e = toRingtrainError(err);
      log.error({ code: e.code, err: e.message }, 'run failed');
      for (const m of members) m.conn.reject(e.code, e.message);
      closed = true;
      await server.close();
      evaluator.dispose();
      throw e;
    },
  );
  // The caller owns the promise; keep an unobserved failure from crashing the process.
  result.catch(() => undefined);

  return {
    port: server.port,
    result,
    async close(reason?: Error): Promise<void> {
      if (!closed) server.events.close(reason ?? new RingtrainError(ErrorCodes.ABORTED, 'coordinator closed'));
      await result.catch(() => undefined);
    },
  };
}
