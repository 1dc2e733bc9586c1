/**
 * A worker: one replica. It connects to the coordinator (and reconnects, keeping its state, if
 * the coordinator goes away), and runs whatever generation the coordinator starts. The
 * coordinator decides membership and the state to train from; the worker executes. This file
 * wires the real parts (sockets, engine, data) into the worker loop (worker-loop.ts).
 */
import { hostname } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { ControlClient } from '../shared/transport/control-client.js';
import { RingServer } from '../shared/transport/ring-server.js';
import { Trainer } from '../shared/engine/trainer.js';
import { selectEngine, type Engine } from '../shared/engine/backend.js';
import { runGeneration, socketRing } from './generation.js';
import { workerLoop } from './worker-loop.js';
import { PROTOCOL_VERSION } from '../shared/base/constants.js';
import type { WorkerConfig } from '../shared/config/config.js';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
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
  // Survives reconnections: the model and the engine (the replica's state is the worker loop's).
  const held: { compute: Compute | null } = { compute: null };
  // The training split, loaded at most once per job and seed (--data auto).
  const localData = new LocalData(cfg.data, cfg.dataFile ?? null);
  localData.warm(log);
  /** Builds the model on the first start; the engine is probed with it so a missing kernel fails here. */
  const prepare = async (start: StartMsg): Promise<Compute> => {
    if (held.compute) return held.compute;
    const job = await resolveJob(start.job, cfg.job);
    const engine = await selectEngine(cfg.backend, log, async (tf) => Trainer.create(tf, job, 0).probe(), { gpu: cfg.gpu, threads: cfg.threads });
    held.compute = { engine, trainer: Trainer.create(engine.tf, job, start.params.seed) };
    return held.compute;
  };

  try {
    const replica = await workerLoop<ControlClient>({
      connect: (timeoutMs, refusal) => ControlClient.connect(cfg.coordinator, timeoutMs, log, { token: sec.token, tls: sec.tls }, refusal),
      hello: (control) => {
        const advertise = cfg.advertise ?? (WILDCARD.has(cfg.ringHost) ? control.localAddress : cfg.ringHost);
        return { type: 'hello', protocol: PROTOCOL_VERSION, ringUrl: ringServer.urlFor(advertise), backend: cfg.backend, host: hostname(), pid: process.pid, job: cfg.job, ...control.helloAuth };
      },
      runGeneration: (control, start, glog, hold) => runGeneration({
        control, formRing: socketRing(ringServer, control.ringSecret, sec.tls), compute: () => prepare(start), log: glog, setReplica: hold,
        localData: () => localData.forStart(start, () => resolveJob(start.job, cfg.job), glog),
      }, start),
      connectTimeoutMs: cfg.connectTimeoutMs,
      reconnectTimeoutMs: cfg.reconnectTimeoutMs,
      log,
    });
    log.info({ steps: replica?.step ?? 0, ...memoryPeak() }, 'run finished');
    return {
      steps: replica?.step ?? 0,
      checksum: checksum(replica?.params ?? new Float32Array(0)),
      engine: held.compute?.engine.name ?? 'none',
    };
  } finally {
    held.compute?.trainer.dispose();
    await localData.close();
    await ringServer.close();
  }
}
