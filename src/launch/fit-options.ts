/**
 * fit()'s options, checked before anything starts: every key must be known (a typo is a one-line
 * RT_BAD_CONFIG, as an unknown flag is), the local-worker settings are validated here and the run
 * settings by the same code as the CLI's flags (trainingConfig), the job's defaults included.
 */
import type { Logger } from '../shared/base/logger.js';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../shared/base/logger.js';
import { BACKENDS, DATA_MODES, gpuList, type BackendName, type CoordinatorConfig, type DataMode } from '../shared/config/config.js';
import type { Job, JobDefaults } from '../shared/job/job.js';
import type { FitCallbacks } from './fit-history.js';
import { localThreads, type LocalOptions } from './local.js';
import { trainingConfig } from './training-config.js';

/**
 * The run's settings, named as the CLI's flags in camelCase (`batchSize` for --batch-size) and
 * meaning the same; each absent one takes the job's default, then the CLI's.
 */
export interface TrainingSettings extends JobDefaults {
  seed?: number;
  accumulate?: number;
  compress?: 'none' | 'fp16';
  onNonfinite?: 'skip' | 'abort';
  maxNonfiniteSkips?: number;
  /** Stop once the validation loss has not improved for this many epochs (needs a validation split). */
  earlyStopPatience?: number;
  /** Folder for the model, summary and metrics (default: runs/<job>-<time> under the working directory). */
  output?: string;
  overwrite?: boolean;
  resume?: string;
  initFrom?: string;
  dataFile?: string;
  checksumEvery?: number;
  checkpointEvery?: number;
  /** Milliseconds (as --step-timeout). */
  stepTimeout?: number;
  rendezvousTimeout?: number;
  rendezvousGrace?: number;
  /** Where the coordinator listens (default 127.0.0.1, any free port). */
  host?: string;
  port?: number;
  /** Workers needed to train (default: `workers`); more may join from other machines. */
  minWorkers?: number;
  maxWorkers?: number;
  token?: string;
  tokenFile?: string;
  insecure?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

const SETTING_KEYS = [
  'epochs', 'batchSize', 'lr', 'seed', 'optimizer', 'weightDecay', 'momentum', 'nesterov', 'lrSchedule', 'warmupSteps', 'lrDecaySteps',
  'lrStepSize', 'lrGamma', 'clipNorm', 'accumulate', 'compress', 'onNonfinite', 'maxNonfiniteSkips', 'earlyStopPatience', 'output', 'overwrite',
  'resume', 'initFrom', 'dataFile', 'checksumEvery', 'checkpointEvery', 'stepTimeout', 'rendezvousTimeout', 'rendezvousGrace', 'host', 'port',
  'minWorkers', 'maxWorkers', 'token', 'tokenFile', 'insecure', 'tlsCert', 'tlsKey', 'tlsCa',
] as const satisfies readonly (keyof TrainingSettings)[];

/** How fit() runs the workers and reports, besides the run's settings. */
export interface LaunchSettings {
  /** Worker processes started on this machine (default 2); 0: none, workers join from elsewhere (`ringtrain worker`). */
  workers?: number;
  callbacks?: FitCallbacks;
  /** A pino logger, or the level of a default one on stderr (default 'warn'). */
  logger?: Logger | LogLevel;
  /** Log level of the worker processes (default: the logger's level when given as one, else 'warn'). */
  workerLogLevel?: LogLevel;
  backend?: BackendName;
  data?: DataMode;
  /** Intra-op threads of each worker's tensorflow engine (default: cores / workers). */
  threads?: number;
  /** One worker per listed GPU index (sets `workers`). */
  gpus?: number[];
  maxRestarts?: number;
}

const LAUNCH_KEYS = ['job', 'workers', 'callbacks', 'logger', 'workerLogLevel', 'backend', 'data', 'threads', 'gpus', 'maxRestarts'] as const;

/** Everything fit() needs to start, all checked. */
export interface FitPlan {
  cfg: CoordinatorConfig;
  local: LocalOptions;
  log: Logger;
  callbacks: FitCallbacks;
}

function fail(msg: string): never {
  throw new RingtrainError(ErrorCodes.BAD_CONFIG, msg);
}

function oneOf<T extends string>(v: unknown, name: string, allowed: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  const hit = allowed.find((a) => a === v);
  if (hit === undefined) fail(`fit(): ${name} must be one of ${allowed.join('|')} (got ${JSON.stringify(v)})`);
  return hit;
}

function intOption(v: unknown, name: string, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`fit(): ${name} must be an integer in [${min}, ${max}] (got ${JSON.stringify(v)})`);
  return v;
}

function isLogger(v: unknown): v is Logger {
  return typeof v === 'object' && v !== null && ['info', 'warn', 'error', 'debug', 'child'].every((k) => typeof (v as Record<string, unknown>)[k] === 'function');
}

/**
 * Checks fit()'s options and resolves the run's configuration. `jobSpec` is what the job became
 * (a built-in name or a module path) and `job` the loaded job, when fit() already has it.
 */
export async function planFit(options: Readonly<Record<string, unknown>>, jobSpec: string, job?: Job): Promise<FitPlan> {
  const known: readonly string[] = [...SETTING_KEYS, ...LAUNCH_KEYS];
  for (const k of Object.keys(options)) if (!known.includes(k)) fail(`fit(): unknown option "${k}"; the options are ${known.join(', ')}`);
  const cb = options['callbacks'] ?? {};
  if (typeof cb !== 'object' || cb === null) fail('fit(): callbacks must be an object of functions (onBatchEnd, onEpochEnd)');
  for (const [k, f] of Object.entries(cb)) {
    if (k !== 'onBatchEnd' && k !== 'onEpochEnd') fail(`fit(): unknown callback "${k}"; the callbacks are onBatchEnd and onEpochEnd`);
    if (typeof f !== 'function') fail(`fit(): callbacks.${k} must be a function`);
  }
  const gpus = options['gpus'] === undefined ? null : gpuList(Array.isArray(options['gpus']) ? options['gpus'].join(',') : options['gpus']);
  const workers = intOption(options['workers'], 'workers', 0, 256, gpus?.length ?? 2);
  if (gpus && workers !== gpus.length) fail(`fit(): workers ${workers} disagrees with gpus ${gpus.join(',')} (one worker per GPU; drop workers)`);
  if (workers === 0 && options['minWorkers'] === undefined) fail('fit(): with workers 0 no worker starts here; give minWorkers, the number of workers that join from elsewhere');
  const given = options['logger'];
  if (given !== undefined && !isLogger(given) && !LOG_LEVELS.includes(given as LogLevel)) fail(`fit(): logger must be a pino logger or one of ${LOG_LEVELS.join('|')}`);
  const level: LogLevel = typeof given === 'string' ? (given as LogLevel) : 'warn';
  const data = oneOf(options['data'], 'data', DATA_MODES, 'auto');
  if (data === 'stream' && options['dataFile'] !== undefined) fail('fit(): data "stream" cannot be used with dataFile: workers read their own rows from the file');
  const local: LocalOptions = {
    workers, gpus,
    maxRestarts: intOption(options['maxRestarts'], 'maxRestarts', 0, 1_000_000, 0),
    threads: localThreads(options['threads'], Math.max(1, workers)),
    backend: oneOf(options['backend'], 'backend', BACKENDS, 'auto'),
    workerLogLevel: oneOf(options['workerLogLevel'], 'workerLogLevel', LOG_LEVELS, level),
    data,
  };
  const settings = Object.fromEntries(SETTING_KEYS.flatMap((k) => (options[k] === undefined ? [] : [[k, options[k]]])));
  // One machine by default: the generation is the processes started here, on any free port.
  const cfg = await trainingConfig({
    port: 0, minWorkers: workers, maxWorkers: typeof settings['minWorkers'] === 'number' ? Math.max(workers, settings['minWorkers']) : workers,
    ...settings, job: jobSpec, logLevel: level,
  }, job);
  return { cfg, local, log: isLogger(given) ? given : createLogger('coordinator', level), callbacks: cb as FitCallbacks };
}
