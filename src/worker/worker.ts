/**
 * A worker: one replica. It joins the coordinator, forms its part of the ring, then for every step
 * computes its share's summed gradient, all-reduces it with the others, divides by the global
 * sample count and applies the same Adam step as every other rank. The coordinator decides;
 * the worker executes.
 */
import { hostname } from 'node:os';
import { ControlClient } from './control-client.js';
import { RingServer } from './ring-server.js';
import { RingCollective } from './ring-collective.js';
import { SoloCollective, type Collective } from './collective.js';
import { Trainer } from './trainer.js';
import { selectEngine } from './backend.js';
import { adamStep, createAdamState, ADAM_DEFAULTS } from './adam.js';
import { Defaults, PROTOCOL_VERSION } from '../shared/constants.js';
import type { WorkerConfig } from '../shared/config.js';
import { ErrorCodes, RingtrainError, toRingtrainError } from '../shared/errors.js';
import { checksum, divideInPlace } from '../shared/flat.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { assertNever, type BatchMsg, type CoordinatorToWorker, type StartMsg } from '../shared/protocol.js';
import { BUILTIN_JOBS, loadJob } from '../jobs/registry.js';
import type { Job } from '../jobs/job.js';

export interface WorkerResult {
  rank: number;
  steps: number;
  checksum: string;
  engine: string;
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);

/** Resolves the job the coordinator named. Paths come only from this worker's own --job flag. */
async function resolveJob(start: StartMsg, own: string | null): Promise<Job> {
  if (own !== null) return loadJob(own);
  const builtin = BUILTIN_JOBS[start.job];
  if (builtin) return builtin;
  throw new RingtrainError(ErrorCodes.JOB_REQUIRED, `the coordinator runs job module ${start.job}; start this worker with --job <path to the same module>`);
}

async function expectMessage<T extends CoordinatorToWorker['type']>(control: ControlClient, type: T, timeoutMs: number, log: Logger): Promise<Extract<CoordinatorToWorker, { type: T }>> {
  for (;;) {
    const msg = await control.inbox.take(timeoutMs, `a ${type} message from the coordinator`);
    if (msg.type === type) return msg as Extract<CoordinatorToWorker, { type: T }>;
    if (msg.type === 'error') throw new RingtrainError(msg.code, `coordinator: ${msg.message}`);
    log.warn({ got: msg.type, expected: type }, 'out-of-order message from coordinator dropped');
  }
}

/** Runs one worker until the coordinator says the run is finished. */
export async function runWorker(cfg: WorkerConfig, logger?: Logger): Promise<WorkerResult> {
  const root = logger ?? createLogger('worker', cfg.logLevel);
  const ringServer = await RingServer.listen(cfg.ringHost, cfg.ringPort, root);
  let control: ControlClient | null = null;
  let ring: Collective | null = null;
  let trainer: Trainer | null = null;
  try {
    control = await ControlClient.connect(cfg.coordinator, cfg.connectTimeoutMs, root);
    const advertise = cfg.advertise ?? (WILDCARD.has(cfg.ringHost) ? control.localAddress : cfg.ringHost);
    const ringUrl = `ws://${advertise.includes(':') ? `[${advertise}]` : advertise}:${ringServer.port}`;
    void control.send({ type: 'hello', protocol: PROTOCOL_VERSION, ringUrl, backend: cfg.backend, host: hostname(), pid: process.pid, job: cfg.job });

    const start = await expectMessage(control, 'start', Defaults.rendezvousTimeoutMs, root);
    const log = root.child({ rank: start.rank, generation: start.generation });
    const job = await resolveJob(start, cfg.job);
    // The ring first: it needs only the start message, while an engine (GPU shader compilation,
    // CUDA start-up) may take minutes, which would outlast a slower peer's ring-connect timeout.
    ring = start.worldSize === 1 || start.successor === null
      ? new SoloCollective()
      : await RingCollective.connect({
          server: ringServer, generation: start.generation, rank: start.rank, worldSize: start.worldSize,
          successorUrl: start.successor, connectTimeoutMs: Defaults.ringConnectTimeoutMs, opTimeoutMs: start.params.stepTimeoutMs, log,
        });
    // The engine is probed with the job's model, so a missing kernel fails here, at start.
    const engine = await selectEngine(cfg.backend, log, async (tf) => Trainer.create(tf, job, 0).probe(), { gpu: cfg.gpu });
    trainer = Trainer.create(engine.tf, job, start.params.seed);
    const params = start.weights.slice();
    trainer.setWeights(params);
    log.info({ worldSize: start.worldSize, job: job.name, params: trainer.paramCount, engine: engine.name }, 'joined run');

    void control.send({ type: 'ring-ready', generation: start.generation, engine: engine.name, engineReason: engine.reason });
    // The go waits for every rank's engine start as well as the ring: GPU engines can start slowly.
    await expectMessage(control, 'go', Defaults.ringConnectTimeoutMs + Defaults.engineStartTimeoutMs, log);

    const hyper = { lr: start.params.lr, ...ADAM_DEFAULTS, beta1: start.params.beta1, beta2: start.params.beta2, epsilon: start.params.epsilon };
    const adam = createAdamState(trainer.paramCount);
    const P = trainer.paramCount;
    // Fusion buffer: all gradients, then the loss sum and the sample count, so one all-reduce
    // also gives every rank the global loss and the exact global divisor.
    const fusion = new Float32Array(P + 2);
    const pending = new Map<number, BatchMsg>();
    let step = start.step;

    for (;;) {
      const t0 = performance.now();
      let batch = pending.get(step);
      while (!batch) {
        const msg = await control.inbox.take(start.params.stepTimeoutMs, `the batch for step ${step}`);
        switch (msg.type) {
          case 'batch':
            if (msg.generation === start.generation && msg.step >= step) pending.set(msg.step, msg);
            else log.warn({ step: msg.step, generation: msg.generation }, 'stale batch dropped');
            break;
          case 'finish':
            await ring.close();
            log.info({ steps: step - start.step }, 'run finished');
            return { rank: start.rank, steps: step - start.step, checksum: checksum(params), engine: engine.name };
          case 'error':
            throw new RingtrainError(msg.code, `coordinator: ${msg.message}`);
          case 'start':
          case 'go':
            log.warn({ got: msg.type }, 'out-of-order message from coordinator dropped');
            break;
          default:
            assertNever(msg);
        }
        batch = pending.get(step);
      }
      pending.delete(step);
      const t1 = performance.now();
      fusion[P] = await trainer.computeGradients(batch.x, batch.y, batch.count, fusion);
      fusion[P + 1] = batch.count;
      const t2 = performance.now();
      await ring.allreduceSum(fusion);
      const t3 = performance.now();
      const samples = fusion[P + 1]!;
      const loss = fusion[P]! / samples;
      const grads = fusion.subarray(0, P);
      divideInPlace(grads, samples);
      adamStep(params, grads, adam, hyper);
      trainer.setWeights(params);
      const t4 = performance.now();
      void control.send({
        type: 'step-done', generation: start.generation, step, loss, samples,
        checksum: batch.checksum ? checksum(params) : null,
        timings: { waitMs: t1 - t0, computeMs: t2 - t1, allreduceMs: t3 - t2, updateMs: t4 - t3 },
      });
      if (batch.sendWeights) void control.send({ type: 'weights', generation: start.generation, step, params: params.slice() });
      step++;
    }
  } catch (err) {
    const e = toRingtrainError(err);
    // Tell the coordinator, so every rank fails together instead of waiting for a timeout.
    if (control) await control.send({ type: 'error', code: e.code, message: e.message });
    throw e;
  } finally {
    await ring?.close().catch(() => undefined);
    trainer?.dispose();
    control?.close();
    await ringServer.close();
  }
}
