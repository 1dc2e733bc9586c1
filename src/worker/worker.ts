/**
 * A worker: one replica. It connects to the coordinator (and reconnects, keeping its state, if
 * the coordinator goes away), and runs whatever generation the coordinator starts. The
 * coordinator decides membership and the state to train from; the worker executes.
 */
import { hostname } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { ControlClient } from '../shared/transport/control-client.js';
import { RingServer } from '../shared/transport/ring-server.js';
import { Trainer } from '../shared/engine/trainer.js';
import { selectEngine, type Engine } from '../shared/engine/backend.js';
import { reportState, runGeneration } from './generation.js';
import type { Replica } from '../shared/engine/replica.js';
import { Defaults, PROTOCOL_VERSION } from '../shared/base/constants.js';
import type { WorkerConfig } from '../shared/config/config.js';
import { ErrorCodes, RingtrainError, logStack, toRingtrainError } from '../shared/base/errors.js';
import { checksum } from '../shared/kernels/flat.js';
import { createLogger, type Logger } from '../shared/base/logger.js';
import type { StartMsg } from '../shared/protocol/protocol.js';
import { BUILTIN_JOBS, loadJob } from '../jobs/registry.js';
import type { Job } from '../shared/job/job.js';
import { LocalData } from './local-data.js';

export interface WorkerResult {
  steps: number;
  checksum: string;
  engine: string;
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);

/** Resolves the job the coordinator named. Paths come only from this worker's own --job flag. */
async function resolveJob(name: string, own: string | null): Promise<Job> {
  if (own !== null) return loadJob(own);
  const builtin = BUILTIN_JOBS[name];
  if (builtin) return builtin;
  throw new RingtrainError(ErrorCodes.JOB_REQUIRED, `the coordinator runs job module ${name}; start this worker with --job <path to the same module>`);
}

/**
 * This process's memory high-water marks, logged when the run ends: the resident set (what the
 * OS charges; file pages read through the page cache are not in it) and V8's heap limit, so a
 * run can show it trained on data larger than the worker's memory.
 */
function memoryPeak(): { peakRssBytes: number; heapLimitBytes: number } {
  return { peakRssBytes: process.resourceUsage().maxRSS * 1024, heapLimitBytes: getHeapStatistics().heap_size_limit };
}

interface Compute {
  engine: Engine;
  trainer: Trainer;
}

/** Runs one worker until the coordinator says the run is finished. */
export async function runWorker(cfg: WorkerConfig, logger?: Logger): Promise<WorkerResult> {
  const log = logger ?? createLogger('worker', cfg.logLevel);
  // A --job module that cannot load fails this worker here, alone, before it joins any run.
  if (cfg.job !== null) await loadJob(cfg.job);
  const sec = cfg.security;
  const ringServer = await RingServer.listen(cfg.ringHost, cfg.ringPort, log, { tls: sec.tls, token: sec.token, insecure: sec.insecure });
  // Survives reconnections: the model, the engine and the replica's state.
  const held: { compute: Compute | null; replica: Replica | null; fingerprint: string | null } = { compute: null, replica: null, fingerprint: null };
  // The training split, loaded at most once per job and seed (--data auto).
  const localData = new LocalData(cfg.data, cfg.dataFile ?? null);
  localData.warm(log);
  const result = (): WorkerResult => ({
    steps: held.replica?.step ?? 0,
    checksum: checksum(held.replica?.params ?? new Float32Array(0)),
    engine: held.compute?.engine.name ?? 'none',
  });

  /** Builds the model on the first start; the engine is probed with it so a missing kernel fails here. */
  const prepare = async (start: StartMsg): Promise<Compute> => {
    if (held.compute) return held.compute;
    const job = await resolveJob(start.job, cfg.job);
    const engine = await selectEngine(cfg.backend, log, async (tf) => Trainer.create(tf, job, 0).probe(), { gpu: cfg.gpu, threads: cfg.threads });
    held.compute = { engine, trainer: Trainer.create(engine.tf, job, start.params.seed) };
    return held.compute;
  };

  // Reconnecting lasts until a deadline set when a proved coordinator was lost (or at the first
  // connect): connections to something that never proves the token do not extend it.
  let deadline = Date.now() + cfg.connectTimeoutMs;
  let refusal: RingtrainError | null = null;
  try {
    for (;;) {
      if (refusal && Date.now() >= deadline) throw refusal;
      const control = await ControlClient.connect(cfg.coordinator, Math.max(1, deadline - Date.now()), log, { token: sec.token, tls: sec.tls }, refusal);
      const advertise = cfg.advertise ?? (WILDCARD.has(cfg.ringHost) ? control.localAddress : cfg.ringHost);
      const ringUrl = ringServer.urlFor(advertise);
      void control.send({
        type: 'hello', protocol: PROTOCOL_VERSION, ringUrl, backend: cfg.backend, host: hostname(), pid: process.pid, job: cfg.job,
        appliedSteps: held.replica ? held.replica.step : -1, stateFingerprint: held.replica ? held.fingerprint : null, ...control.helloAuth,
      });
      try {
        for (;;) {
          const msg = await control.inbox.take(Defaults.idleTimeoutMs, 'instructions from the coordinator');
          if (msg.type === 'finish') {
            log.info({ steps: held.replica?.step ?? 0, ...memoryPeak() }, 'run finished');
            return result();
          }
          if (msg.type === 'error') throw new RingtrainError(msg.code, `coordinator: ${msg.message}`);
          if (msg.type === 'pause') {
            // Idle (between generations, or just reconnected): report what we hold.
            await reportState(control, msg.generation, held.replica);
            continue;
          }
          if (msg.type !== 'start') continue; // stale go/batch of an ended generation
          held.fingerprint = msg.fingerprint;
          const glog = log.child({ rank: msg.rank, generation: msg.generation });
          glog.info({ worldSize: msg.worldSize, step: msg.state.step }, 'generation started');
          const start = msg;
          const end = await runGeneration({
            control, ringServer, compute: () => prepare(start), log: glog, tls: sec.tls, setReplica: (r) => (held.replica = r),
            localData: () => localData.forStart(start, () => resolveJob(start.job, cfg.job), glog),
          }, msg);
          if (end.kind === 'finish') {
            log.info({ steps: held.replica?.step ?? 0, ...memoryPeak() }, 'run finished');
            return result();
          }
        }
      } catch (err) {
        const e = toRingtrainError(err);
        if (e.code === ErrorCodes.COORDINATOR_LOST) {
          if (control.trusted) {
            deadline = Date.now() + cfg.reconnectTimeoutMs;
            refusal = null;
          } else {
            refusal = control.refusal ?? refusal;
            // Whatever answered did not prove the token: back off before asking it again.
            await new Promise((r) => setTimeout(r, Defaults.connectBackoffMaxMs / 4));
          }
          log.warn({ err: e.message, steps: held.replica?.step ?? 0 }, 'coordinator lost; keeping state and reconnecting');
          continue;
        }
        // A refusal nobody proved (an error before the welcome) never reaches here: see control-client.ts.
        logStack(log, e);
        // Tell the coordinator, so every rank fails together instead of waiting for a timeout.
        await control.send({ type: 'error', code: e.code, message: e.message });
        throw e;
      } finally {
        control.close();
      }
    }
  } finally {
    held.compute?.trainer.dispose();
    await localData.close();
    await ringServer.close();
  }
}
