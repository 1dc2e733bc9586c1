/**
 * `ringtrain local`: a coordinator in this process and N worker child processes on this machine,
 * talking over real loopback sockets exactly as a multi-machine run does. A child that dies is
 * respawned while --max-restarts allows (it rejoins at the next step boundary); after that the
 * run fails at once with the child's exit status instead of waiting for a timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchCoordinator, type RunSummary } from '../coordinator/coordinator.js';
import type { BackendName, CoordinatorConfig, DataMode, LogLevel } from '../shared/config/config.js';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import { optNumberFlag } from '../shared/config/flags.js';
import type { Logger } from '../shared/base/logger.js';
import type { RunObserver } from '../coordinator/run-events.js';
import { isJobPath } from '../jobs/registry.js';
import { childEnv, childTlsArgs } from './local-security.js';

export interface LocalOptions {
  workers: number;
  /** One device index per worker (`--gpus`), or null to leave device choice to the engines. */
  gpus?: number[] | null;
  /** Intra-op threads each worker's tensorflow engine gets (`--threads`; see localThreads). */
  threads?: number;
  /** Respawns allowed in total for worker processes that die (like torchrun --max-restarts). */
  maxRestarts: number;
  backend: BackendName;
  workerLogLevel: LogLevel;
  /** The workers' --data (absent: auto). */
  data?: DataMode;
  /** Run observers (progress, metrics, dashboard, exports) handed to the coordinator. */
  observers?: readonly RunObserver[];
}

/**
 * Each worker's share of the cores (like torchrun's OMP_NUM_THREADS): N workers whose engines each
 * start a pool as wide as the machine oversubscribe it N times over, and on a shared host the
 * thread switching costs more than the parallelism gains. `--threads` overrides.
 */
export function localThreads(flag: unknown, workers: number, cores = availableParallelism()): number {
  return optNumberFlag({ threads: flag }, 'threads', 'local') ?? Math.max(1, Math.floor(cores / workers));
}

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

export async function runLocal(cfg: CoordinatorConfig, opts: LocalOptions, log: Logger): Promise<RunSummary> {
  const handle = await launchCoordinator(cfg, { logger: log, observers: opts.observers ?? [] });
  const host = cfg.host === '0.0.0.0' || cfg.host === '::' ? '127.0.0.1' : cfg.host;
  const children: ChildProcess[] = [];
  const onSignal = (sig: NodeJS.Signals): void => {
    void handle.close(new RingtrainError(ErrorCodes.ABORTED, `interrupted by ${sig}`));
  };
  // Ctrl-C reaches the whole process group; the children ignore it (--managed) so that their
  // states can still be collected and saved. A second Ctrl-C ends everything at once.
  const releaseInterrupts = onInterrupts(() => handle.interrupt(), () => {
    for (const c of children) c.kill('SIGKILL');
  });
  process.once('SIGTERM', onSignal);
  const args = [
    CLI, 'worker', '--coordinator', `${handle.scheme}://${host.includes(':') ? `[${host}]` : host}:${handle.port}`, '--ring-host', host,
    '--managed', '--backend', opts.backend, ...(opts.threads === undefined ? [] : ['--threads', String(opts.threads)]), '--log-level', opts.workerLogLevel, '--data', opts.data ?? 'auto',
    // A job module path is passed to the children on their command line, never over the network.
    ...(isJobPath(cfg.job) ? ['--job', resolve(cfg.job)] : []),
    // Every worker reads its own rows from the same packed file.
    ...(cfg.dataFile ? ['--data-file', resolve(cfg.dataFile)] : []),
    ...childTlsArgs(cfg.security),
  ];
  let restarts = 0;
  let ending = false;
  const spawnWorker = (i: number): void => {
    const gpu = opts.gpus?.[i];
    // CUDA_VISIBLE_DEVICES too, so anything CUDA-based the job itself loads sees only its GPU.
    const env = gpu === undefined ? childEnv(cfg.security) : { ...childEnv(cfg.security), CUDA_VISIBLE_DEVICES: String(gpu) };
    // Children's stdout goes to our stderr: stdout carries only the --json summary.
    const child = spawn(process.execPath, gpu === undefined ? args : [...args, '--gpu', String(gpu)], { stdio: ['ignore', 2, 2], env });
    children.push(child);
    child.on('exit', (code, signal) => {
      if (code === 0 || ending) return;
      const what = `worker process ${i} (pid ${child.pid}) exited with ${signal ?? `code ${code}`}`;
      if (restarts < opts.maxRestarts) {
        restarts++;
        log.warn({ worker: i, restarts, maxRestarts: opts.maxRestarts }, `${what}; respawning it`);
        spawnWorker(i);
      } else {
        void handle.close(new RingtrainError(ErrorCodes.WORKER_LOST, opts.maxRestarts > 0 ? `${what} after ${restarts} restarts` : what));
      }
    });
  };
  if (opts.threads !== undefined) log.info({ threads: opts.threads, workers: opts.workers, cores: availableParallelism() }, 'tensorflow intra-op threads per worker');
  for (let i = 0; i < opts.workers; i++) spawnWorker(i);
  try {
    return await handle.result;
  } catch (err) {
    // The run failed: its workers may be reconnecting to a coordinator that is gone for good.
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    throw err;
  } finally {
    ending = true;
    releaseInterrupts();
    process.off('SIGTERM', onSignal);
    await Promise.all(children.map((c) => waitExit(c, 10_000)));
  }
}

/**
 * Installs a SIGINT handler: the first signal calls `first` (stop gracefully, saving the model); a
 * second calls `hard` and exits at once with 130, the shell's code for an interrupted command.
 * The returned release removes the handler only while no signal has come: once a run is being
 * interrupted, a second Ctrl-C must still exit with 130 however quickly the run then ends, rather
 * than meet Node's default action.
 */
export function onInterrupts(first: () => void, hard: () => void = () => undefined): () => void {
  let count = 0;
  const handler = (): void => {
    count += 1;
    if (count === 1) {
      process.stderr.write('\ninterrupted: saving the newest weights as the model (Ctrl-C again to exit at once)\n');
      first();
      return;
    }
    hard();
    process.exit(130);
  };
  process.on('SIGINT', handler);
  return () => {
    if (count === 0) process.off('SIGINT', handler);
  };
}

/** Waits for a child to exit, killing it if it outstays `ms`. */
function waitExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(t);
      done();
    });
  });
}
