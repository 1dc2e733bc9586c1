/**
 * Run configuration and its validation. Everything is checked here, when it is parsed, before any
 * socket opens, so a typo costs a one-line error instead of a half-started cluster. Each value is
 * read through its row of the flag table (flags.ts), which holds its default, bounds and message.
 */
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { LOG_LEVELS, type LogLevel } from '../base/logger.js';
import { COMPRESSION_NAMES, NON_FINITE_POLICIES, type NonFinitePolicy } from '../protocol/protocol.js';
import { isLoopbackHost } from '../protocol/auth.js';
import { securityConfig, type SecurityConfig } from '../transport/security-config.js';
import { OPTIMIZER_KEYS, clipNormOf, optimizerConfig, optimizerName } from '../optim/index.js';
import { BACKENDS, DATA_MODES, type BackendName, type DataMode } from './flag-table.js';
import { choiceFlag, flagDefaults, numberFlag, optNumberFlag, optTextFlag, show, textFlag } from './flags.js';

export { BACKENDS, DATA_MODES, type BackendName, type DataMode } from './flag-table.js';
export { LOG_LEVELS, type LogLevel } from '../base/logger.js';
export const COMPRESSIONS = COMPRESSION_NAMES;
export type Compression = (typeof COMPRESSIONS)[number];

/** What the coordinator needs to run a job. */
export interface CoordinatorConfig {
  host: string;
  port: number;
  minWorkers: number;
  maxWorkers: number;
  job: string;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  output: string | null;
  checksumEvery: number;
  stepTimeoutMs: number;
  rendezvousTimeoutMs: number;
  rendezvousGraceMs: number;
  checkpointEvery: number;
  /** Directory of an earlier run to continue from its checkpoint. */
  resume: string | null;
  /** Replace a previous run in --output (absent: such a folder is refused). */
  overwrite?: boolean;
  logLevel: LogLevel;
  /** Skip (default) or abort a step whose all-reduced loss or gradient is not finite. */
  onNonfinite: NonFinitePolicy;
  /** More consecutive skipped (non-finite) steps than this end the run with RT_NON_FINITE. */
  maxNonfiniteSkips: number;
  /** Gradient compression on the wire (absent: none). */
  compress?: Compression;
  /** Micro-batches of --batch-size summed per all-reduce (absent: 1). */
  accumulate?: number;
  /**
   * The optimizer flags that were given (--optimizer, --weight-decay, --lr-schedule, --clip-norm,
   * ...; keys as shared/optim OPTIMIZER_KEYS), already checked; absent: Adam at --lr, constant.
   * The coordinator resolves them with the run's planned step count (shared/optim resolveOptimizer).
   */
  optim?: OptimFlags;
  /** Training split from a packed file (`ringtrain data pack`) instead of the job's loadData; absent: none. */
  dataFile?: string | null;
  /** Saved model folder (model.json + weights) whose weights the run starts from; absent: none. */
  initFrom?: string | null;
  security: SecurityConfig;
}

/** Optimizer settings by key (`weightDecay` for --weight-decay), as given. */
export type OptimFlags = Readonly<Record<string, unknown>>;

/**
 * The optimizer flags present in `raw`, checked now (before any socket opens) as the run will
 * use them; a cosine schedule's step count is the run's to fill in, so any count passes here.
 */
export function optimFlags(raw: Raw): OptimFlags {
  const picked: Record<string, unknown> = {};
  for (const k of OPTIMIZER_KEYS) if (k !== 'lr' && raw[k] !== undefined && raw[k] !== null && raw[k] !== '') picked[k] = raw[k];
  const name = optimizerName(picked);
  optimizerConfig(name, { ...picked, lr: raw['lr'] }, 1e12);
  clipNormOf(picked['clipNorm']);
  return picked;
}

/**
 * Samples each rank trains per step (per all-reduce and optimizer update): --batch-size stays the
 * micro-batch a worker computes at once, and --accumulate K sums K of them first.
 */
export function samplesPerRankStep(cfg: Pick<CoordinatorConfig, 'batchSize' | 'accumulate'>): number {
  return cfg.batchSize * (cfg.accumulate ?? 1);
}

/** What a worker needs to join a run. */
export interface WorkerConfig {
  coordinator: string;
  ringHost: string;
  ringPort: number;
  advertise: string | null;
  backend: BackendName;
  /** Device index on a machine with several GPUs (`--gpu I`), or null for the engine's default. */
  gpu: number | null;
  /** Intra-op threads of the tensorflow engine (`--threads`), or null for TensorFlow's default. */
  threads: number | null;
  job: string | null;
  /** Batches from local data when it matches the coordinator's (auto), or always streamed. */
  data: DataMode;
  /** This worker's copy of the run's packed training file (`--data-file`); absent: none. */
  dataFile?: string | null;
  connectTimeoutMs: number;
  reconnectTimeoutMs: number;
  logLevel: LogLevel;
  security: SecurityConfig;
}

type Raw = Record<string, unknown>;

function fail(msg: string): never {
  throw new RingtrainError(ErrorCodes.BAD_CONFIG, msg);
}

/** Validates coordinator settings (from flags, env and config file, already merged). */
export function coordinatorConfig(raw: Raw): CoordinatorConfig {
  const host = textFlag(raw, 'host');
  const cfg: CoordinatorConfig = {
    host,
    port: numberFlag(raw, 'port'),
    minWorkers: numberFlag(raw, 'minWorkers'),
    maxWorkers: numberFlag(raw, 'maxWorkers'),
    job: textFlag(raw, 'job'),
    epochs: numberFlag(raw, 'epochs'),
    batchSize: numberFlag(raw, 'batchSize'),
    lr: numberFlag(raw, 'lr'),
    seed: numberFlag(raw, 'seed'),
    output: optTextFlag(raw, 'output'),
    checksumEvery: numberFlag(raw, 'checksumEvery'),
    stepTimeoutMs: numberFlag(raw, 'stepTimeout'),
    rendezvousTimeoutMs: numberFlag(raw, 'rendezvousTimeout'),
    rendezvousGraceMs: numberFlag(raw, 'rendezvousGrace'),
    checkpointEvery: numberFlag(raw, 'checkpointEvery'),
    resume: optTextFlag(raw, 'resume'),
    overwrite: raw['overwrite'] === true,
    logLevel: choiceFlag(raw, 'logLevel', LOG_LEVELS),
    onNonfinite: choiceFlag(raw, 'onNonfinite', NON_FINITE_POLICIES),
    maxNonfiniteSkips: numberFlag(raw, 'maxNonfiniteSkips'),
    compress: choiceFlag(raw, 'compress', COMPRESSIONS),
    accumulate: numberFlag(raw, 'accumulate'),
    optim: optimFlags({ ...raw, lr: numberFlag(raw, 'lr') }),
    dataFile: optTextFlag(raw, 'dataFile'),
    initFrom: optTextFlag(raw, 'initFrom'),
    security: securityConfig(raw, [{ flag: '--host', host }]),
  };
  if (cfg.maxWorkers < cfg.minWorkers) fail(`--max-workers (${cfg.maxWorkers}) must be at least --min-workers (${cfg.minWorkers})`);
  return cfg;
}

/** Parses a ws:// or wss:// URL, refusing anything else. */
export function coordinatorUrl(value: unknown): string {
  if (typeof value !== 'string') fail(`--coordinator must be a ws:// or wss:// URL (got ${show(value)})`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`--coordinator must be a ws:// or wss:// URL (got ${show(value)})`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') fail(`--coordinator must use ws:// or wss:// (got ${show(value)})`);
  if (url.port === '') fail(`--coordinator must include a port, e.g. ws://host:7070 (got ${show(value)})`);
  return url.toString().replace(/\/$/, '');
}

/** Highest device index accepted by `--gpu` / `--gpus`. */
const MAX_GPU = 255;

/**
 * Parses `--gpus 0,1,2,3` (one worker per listed device): distinct integers in [0, 255]. A device
 * listed twice is refused, since two workers on one GPU is almost always a typo.
 */
export function gpuList(value: unknown): number[] {
  const textValue = typeof value === 'number' ? String(value) : value;
  if (typeof textValue !== 'string' || !/^\s*\d+(\s*,\s*\d+)*\s*$/.test(textValue)) fail(`--gpus must be a comma-separated list of device indices such as 0,1,2,3 (got ${show(value)})`);
  const gpus = textValue.split(',').map((g) => Number(g.trim()));
  const bad = gpus.find((g) => g > MAX_GPU);
  if (bad !== undefined) fail(`--gpus indices must be in [0, ${MAX_GPU}] (got ${bad})`);
  if (new Set(gpus).size !== gpus.length) fail(`--gpus lists a device more than once (got ${show(value)})`);
  return gpus;
}

/** Validates worker settings. */
export function workerConfig(raw: Raw): WorkerConfig {
  const coordinator = coordinatorUrl(raw['coordinator']);
  // A worker of a loopback coordinator is on that machine: its ring stays there unless told otherwise.
  const ringHost = raw['ringHost'] === undefined && isLoopbackHost(new URL(coordinator).hostname) ? '127.0.0.1' : textFlag(raw, 'ringHost', 'worker');
  return {
    coordinator,
    ringHost,
    ringPort: numberFlag(raw, 'ringPort', 'worker'),
    advertise: optTextFlag(raw, 'advertise', 'worker'),
    backend: choiceFlag(raw, 'backend', BACKENDS, 'worker'),
    gpu: optNumberFlag(raw, 'gpu', 'worker'),
    threads: optNumberFlag(raw, 'threads', 'worker'),
    job: optTextFlag(raw, 'job', 'worker'),
    data: choiceFlag(raw, 'data', DATA_MODES, 'worker'),
    dataFile: optTextFlag(raw, 'dataFile', 'worker'),
    connectTimeoutMs: numberFlag(raw, 'connectTimeout', 'worker'),
    reconnectTimeoutMs: numberFlag(raw, 'reconnectTimeout', 'worker'),
    logLevel: choiceFlag(raw, 'logLevel', LOG_LEVELS, 'worker'),
    security: securityConfig(raw, [{ flag: '--ring-host', host: ringHost }]),
  };
}

/** What `ringtrain local` starts besides the coordinator. */
export interface LocalPlan {
  workers: number;
  /** One device index per worker (`--gpus`), or null. */
  gpus: number[] | null;
  maxRestarts: number;
  backend: BackendName;
  workerLogLevel: LogLevel;
  data: DataMode;
}

/** Validates the flags of `ringtrain local` that are its own (the coordinator's go through coordinatorConfig). */
export function localPlan(raw: Raw): LocalPlan {
  const gpus = raw['gpus'] === undefined ? null : gpuList(raw['gpus']);
  const workers = numberFlag({ workers: raw['workers'] ?? gpus?.length }, 'workers', 'local');
  if (raw['data'] === 'stream' && raw['dataFile'] !== undefined) fail('--data stream cannot be used with --data-file: workers read their own rows from the file');
  if (gpus && workers !== gpus.length) fail(`--workers ${workers} disagrees with --gpus ${gpus.join(',')} (one worker per GPU; drop --workers)`);
  return {
    workers, gpus, maxRestarts: numberFlag(raw, 'maxRestarts', 'local'), backend: choiceFlag(raw, 'backend', BACKENDS, 'local'),
    workerLogLevel: choiceFlag(raw, 'workerLogLevel', LOG_LEVELS, 'local'), data: choiceFlag(raw, 'data', DATA_MODES, 'local'),
  };
}

/**
 * The coordinator settings of `ringtrain local`: on one machine the generation is exactly the
 * processes it starts (min and max workers = --workers), unless the flags say otherwise.
 */
export function localTraining(raw: Raw, workers: number): Raw {
  return { ...raw, minWorkers: raw['minWorkers'] ?? workers, maxWorkers: raw['maxWorkers'] === undefined || raw['maxWorkers'] === ConfigDefaults.maxWorkers ? workers : raw['maxWorkers'] };
}

/** Defaults shared by the CLI and the library entry points: the flag table's (flag-table.ts). */
export const ConfigDefaults = flagDefaults();
