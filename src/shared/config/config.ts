/**
 * Run configuration and its validation. Everything is checked here, when it is parsed, before any
 * socket opens, so a typo costs a one-line error instead of a half-started cluster.
 */
import { Defaults } from '../base/constants.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { COMPRESSION_NAMES, NON_FINITE_POLICIES, type NonFinitePolicy } from '../protocol/protocol.js';
import { isLoopbackHost } from '../protocol/auth.js';
import { securityConfig, type SecurityConfig } from '../transport/security-config.js';
import { OPTIMIZER_KEYS, clipNormOf, optimizerConfig, optimizerName } from '../optim/index.js';

export const BACKENDS = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export { LOG_LEVELS, type LogLevel } from '../base/logger.js';
import { LOG_LEVELS, type LogLevel } from '../base/logger.js';
export const COMPRESSIONS = COMPRESSION_NAMES;
export type Compression = (typeof COMPRESSIONS)[number];
/**
 * Where a worker's batches come from: `auto` loads the job's data in the worker and receives only
 * indices when it matches the coordinator's (dataset fingerprint), else streamed rows; `stream`
 * always receives rows and never loads data.
 */
export const DATA_MODES = ['auto', 'stream'] as const;
export type DataMode = (typeof DATA_MODES)[number];

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
  /** Stop once the validation loss has not improved for this many epochs; absent or null: never. */
  earlyStopPatience?: number | null;
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
function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}
function intIn(raw: Raw, key: string, flag: string, min: number, max: number): number {
  const v = raw[key];
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) fail(`--${flag} must be an integer in [${min}, ${max}] (got ${show(v)})`);
  return n;
}
function positive(raw: Raw, key: string, flag: string): number {
  const v = raw[key];
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) fail(`--${flag} must be a positive number (got ${show(v)})`);
  return n;
}
function text(raw: Raw, key: string, flag: string): string {
  const v = raw[key];
  if (typeof v !== 'string' || v.trim() === '') fail(`--${flag} must be a non-empty string (got ${show(v)})`);
  return v;
}
function optText(raw: Raw, key: string, flag: string): string | null {
  const v = raw[key];
  return v === undefined || v === null || v === '' ? null : text(raw, key, flag);
}
function oneOf<T extends string>(raw: Raw, key: string, flag: string, allowed: readonly T[]): T {
  const v = raw[key];
  const hit = allowed.find((a) => a === v);
  if (hit === undefined) fail(`--${flag} must be one of ${allowed.join('|')} (got ${show(v)})`);
  return hit;
}

/**
 * Validates coordinator settings (from flags, env and config file, already merged). Keys that are
 * absent take ConfigDefaults; a job's own defaults need the job loaded (launch/training-config.ts).
 */
export function coordinatorConfig(given: Raw): CoordinatorConfig {
  const raw: Raw = { ...ConfigDefaults, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
  const host = text(raw, 'host', 'host');
  const cfg: CoordinatorConfig = {
    host,
    port: intIn(raw, 'port', 'port', 0, 65535),
    minWorkers: intIn(raw, 'minWorkers', 'min-workers', 1, 1024),
    maxWorkers: intIn(raw, 'maxWorkers', 'max-workers', 1, 1024),
    job: text(raw, 'job', 'job'),
    epochs: intIn(raw, 'epochs', 'epochs', 1, 1_000_000),
    batchSize: intIn(raw, 'batchSize', 'batch-size', 1, 1_000_000),
    lr: positive(raw, 'lr', 'lr'),
    seed: intIn(raw, 'seed', 'seed', 0, 2 ** 32 - 1),
    output: optText(raw, 'output', 'output'),
    checksumEvery: intIn(raw, 'checksumEvery', 'checksum-every', 1, 1_000_000_000),
    stepTimeoutMs: intIn(raw, 'stepTimeout', 'step-timeout', 1, 86_400_000),
    rendezvousTimeoutMs: intIn(raw, 'rendezvousTimeout', 'rendezvous-timeout', 1, 86_400_000),
    rendezvousGraceMs: intIn(raw, 'rendezvousGrace', 'rendezvous-grace', 0, 86_400_000),
    checkpointEvery: intIn(raw, 'checkpointEvery', 'checkpoint-every', 1, 1_000_000_000),
    resume: optText(raw, 'resume', 'resume'),
    overwrite: raw['overwrite'] === true,
    logLevel: oneOf(raw, 'logLevel', 'log-level', LOG_LEVELS),
    onNonfinite: raw['onNonfinite'] === undefined ? 'skip' : oneOf(raw, 'onNonfinite', 'on-nonfinite', NON_FINITE_POLICIES),
    maxNonfiniteSkips: raw['maxNonfiniteSkips'] === undefined ? Defaults.maxNonfiniteSkips : intIn(raw, 'maxNonfiniteSkips', 'max-nonfinite-skips', 0, 1_000_000_000),
    compress: raw['compress'] === undefined ? 'none' : oneOf(raw, 'compress', 'compress', COMPRESSIONS),
    accumulate: raw['accumulate'] === undefined ? 1 : intIn(raw, 'accumulate', 'accumulate', 1, 1024),
    optim: optimFlags(raw),
    dataFile: optText(raw, 'dataFile', 'data-file'),
    initFrom: optText(raw, 'initFrom', 'init-from'),
    earlyStopPatience: raw['earlyStopPatience'] === undefined || raw['earlyStopPatience'] === null ? null : intIn(raw, 'earlyStopPatience', 'early-stop-patience', 0, 1_000_000),
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
  const ringHost = raw['ringHost'] === undefined ? (isLoopbackHost(new URL(coordinator).hostname) ? '127.0.0.1' : ConfigDefaults.ringHost) : text(raw, 'ringHost', 'ring-host');
  return {
    coordinator,
    ringHost,
    ringPort: intIn(raw, 'ringPort', 'ring-port', 0, 65535),
    advertise: optText(raw, 'advertise', 'advertise'),
    backend: oneOf(raw, 'backend', 'backend', BACKENDS),
    gpu: raw['gpu'] === undefined || raw['gpu'] === null || raw['gpu'] === '' ? null : intIn(raw, 'gpu', 'gpu', 0, MAX_GPU),
    threads: raw['threads'] === undefined || raw['threads'] === null || raw['threads'] === '' ? null : intIn(raw, 'threads', 'threads', 1, 1024),
    job: optText(raw, 'job', 'job'),
    data: raw['data'] === undefined ? ConfigDefaults.data : oneOf(raw, 'data', 'data', DATA_MODES),
    dataFile: optText(raw, 'dataFile', 'data-file'),
    connectTimeoutMs: intIn(raw, 'connectTimeout', 'connect-timeout', 1, 86_400_000),
    reconnectTimeoutMs: intIn(raw, 'reconnectTimeout', 'reconnect-timeout', 1, 86_400_000),
    logLevel: oneOf(raw, 'logLevel', 'log-level', LOG_LEVELS),
    security: securityConfig(raw, [{ flag: '--ring-host', host: ringHost }]),
  };
}

/** Defaults shared by the CLI and the library entry points. */
export const ConfigDefaults = {
  host: '127.0.0.1',
  port: 7070,
  minWorkers: 1,
  job: 'mnist-mlp',
  epochs: 1,
  batchSize: 32,
  lr: 0.001,
  seed: 42,
  checksumEvery: Defaults.checksumEvery,
  stepTimeout: Defaults.stepTimeoutMs,
  rendezvousTimeout: Defaults.rendezvousTimeoutMs,
  rendezvousGrace: Defaults.rendezvousGraceMs,
  maxWorkers: 1024,
  checkpointEvery: Defaults.checkpointEvery,
  ringHost: '0.0.0.0',
  ringPort: 0,
  backend: 'auto' as BackendName,
  data: 'auto' as DataMode,
  connectTimeout: Defaults.connectTimeoutMs,
  reconnectTimeout: Defaults.reconnectTimeoutMs,
  logLevel: 'info' as LogLevel,
};
