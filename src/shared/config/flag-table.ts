/**
 * Every flag of the coordinator, worker, local and eval commands, once: its type, default, bounds,
 * wording and the commands that take it. The command line's options, the validation of merged
 * settings (flags > RINGTRAIN_* env > config file > job defaults > these defaults), ConfigDefaults
 * and the RINGTRAIN_* / config-file names are all derived from this table (flags.ts). A new flag
 * is one row here plus the line of code that reads it.
 */
import { Defaults } from '../base/constants.js';
import { LOG_LEVELS } from '../base/logger.js';
import { COMPRESSION_NAMES, NON_FINITE_POLICIES } from '../protocol/protocol.js';
import { LR_SCHEDULES, OPTIMIZER_NAMES } from '../optim/index.js';
import type { Command, FlagSpec } from './flag-spec.js';

export const BACKENDS = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
/**
 * Where a worker's batches come from: `auto` loads the job's data in the worker and receives only
 * indices when it matches the coordinator's (dataset fingerprint), else streamed rows; `stream`
 * always receives rows and never loads data.
 */
export const DATA_MODES = ['auto', 'stream'] as const;
export type DataMode = (typeof DATA_MODES)[number];

/** The coordinator's default HTTP port: next to its control port (7070). */
export const DEFAULT_HTTP_PORT = 7071;

const TRAIN: readonly Command[] = ['coordinator', 'local'];
const JOINED: readonly Command[] = ['coordinator', 'worker', 'local'];
const ALL: readonly Command[] = ['coordinator', 'worker', 'local', 'eval'];
const DAY_MS: readonly [number, number] = [1, 86_400_000];
/** An optimizer row: checked by shared/optim's settings, whose defaults depend on the optimizer. */
const optim = <J extends NonNullable<FlagSpec['job']>>(type: FlagSpec['type'], describe: string, job: J, choices?: readonly string[], fallback?: string): FlagSpec & { job: J } => ({
  type, describe, commands: TRAIN, check: 'optim', job, ...(choices ? { choices } : {}), ...(fallback ? { fallback } : {}),
});

/** The table, in the order --help lists the training flags. */
export const FLAGS = {
  host: { type: 'string', default: '127.0.0.1', check: 'text', commands: TRAIN, describe: 'Address the coordinator listens on' },
  port: { type: 'number', default: 7070, check: 'int', range: [0, 65535], commands: TRAIN, describe: 'Port the coordinator listens on (0 = any free port)', per: { local: { default: 0 } } },
  job: {
    type: 'string', default: 'mnist-mlp', check: 'text', commands: ALL, describe: 'Built-in job (mnist-mlp, mnist-cnn, regression-mlp) or a path to a job module (./my-job.js)',
    per: {
      worker: { default: undefined, describe: 'Job module path, when the coordinator runs a job that is not built in' },
      eval: { default: undefined, describe: "Job whose test split to use (default: the one the model records; built-in name or module path)" },
    },
  },
  epochs: { type: 'number', fallback: 1, job: 'always', check: 'int', range: [1, 1_000_000], commands: TRAIN, describe: "Epochs to train (default: the job's own, else 1)" },
  batchSize: { type: 'number', fallback: 32, job: 'always', check: 'int', range: [1, 1_000_000], commands: TRAIN, describe: "Per-worker batch size; the global batch is this times the worker count (default: the job's, else 32)" },
  lr: { type: 'number', fallback: 0.001, job: 'always', check: 'positive', commands: TRAIN, describe: "Base learning rate (default: the job's, else 0.001)" },
  optimizer: optim('string', "Update rule: adam (tf.train.adam), adamw (torch.optim.AdamW), sgd (torch.optim.SGD) (default: the job's, else adam)", 'optimizer', OPTIMIZER_NAMES, 'adam'),
  weightDecay: optim('number', 'adamw: decoupled weight decay (default 0.01); sgd: L2 penalty added to the gradient (default 0)', 'optimizer'),
  momentum: optim('number', 'sgd: momentum in [0, 1) (default 0)', 'optimizer'),
  nesterov: optim('boolean', 'sgd: Nesterov momentum (needs --momentum > 0)', 'optimizer'),
  lrSchedule: optim('string', 'Learning rate per step: constant, warmup (linear warm-up, then constant), cosine (to 0 at --lr-decay-steps) or step (x --lr-gamma every --lr-step-size steps); all but constant start with --warmup-steps of linear warm-up', 'lrSchedule', LR_SCHEDULES, 'constant'),
  warmupSteps: optim('number', 'Steps of linear warm-up from lr/W to lr (default 0)', 'lrSchedule'),
  lrDecaySteps: optim('number', "cosine: the step at which the rate reaches 0, warm-up included (default: the run's planned steps at --min-workers)", 'lrSchedule'),
  lrStepSize: optim('number', 'step: steps between two multiplications by --lr-gamma (default 1)', 'lrSchedule'),
  lrGamma: optim('number', 'step: factor applied every --lr-step-size steps (default 0.1)', 'lrSchedule'),
  clipNorm: optim('number', 'Clip the averaged gradient to this global L2 norm before the update (0 or absent: no clipping)', 'always'),
  seed: {
    type: 'number', default: 42, check: 'int', range: [0, 2 ** 32 - 1], commands: [...TRAIN, 'eval'], describe: 'Seed for initial weights, data split and sampling order',
    per: { eval: { default: undefined, check: 'count', describe: "The training run's --seed, which fixes the split (default: the one the model records; another is refused)" } },
  },
  output: { type: 'string', check: 'text', commands: TRAIN, describe: 'Directory for the trained model and summary (default: runs/<job>-<time>)' },
  checksumEvery: { type: 'number', default: Defaults.checksumEvery, check: 'int', range: [1, 1_000_000_000], commands: TRAIN, describe: 'Compare replica weight checksums every K steps (and at the end)' },
  stepTimeout: { type: 'number', default: Defaults.stepTimeoutMs, check: 'int', range: DAY_MS, commands: TRAIN, describe: 'Milliseconds a step may take before the run fails naming the slow ranks' },
  rendezvousTimeout: { type: 'number', default: Defaults.rendezvousTimeoutMs, check: 'int', range: DAY_MS, commands: TRAIN, describe: 'Milliseconds to wait for --min-workers to join (at start and after losing workers)' },
  rendezvousGrace: { type: 'number', default: Defaults.rendezvousGraceMs, check: 'int', range: [0, 86_400_000], commands: TRAIN, describe: 'Once --min-workers are in, milliseconds to wait for more before training starts' },
  maxWorkers: { type: 'number', default: 1024, check: 'int', range: [1, 1024], commands: TRAIN, describe: 'Most workers in a generation; workers that arrive mid-run join at the next step boundary' },
  checkpointEvery: { type: 'number', default: Defaults.checkpointEvery, check: 'int', range: [1, 1_000_000_000], commands: TRAIN, describe: 'Write a checkpoint to the output directory every K steps (and at every epoch end)' },
  resume: { type: 'string', check: 'text', commands: TRAIN, describe: 'Continue the run whose output directory (checkpoint) is DIR' },
  dataFile: {
    type: 'string', check: 'text', commands: JOINED, describe: 'Training split from a packed file (ringtrain data pack); workers read their own rows from it, the coordinator only indexes it',
    per: { worker: { describe: "This worker's copy of the coordinator's packed training file (--data-file there); its hash must match" } },
  },
  initFrom: { type: 'string', check: 'text', commands: TRAIN, describe: 'Start from the weights of a saved model folder (model.json + weights, e.g. an earlier --output), with fresh optimizer state' },
  overwrite: { type: 'boolean', default: false, commands: TRAIN, describe: 'Replace a previous run in --output (without it, such a folder is refused)' },
  json: { type: 'boolean', default: false, commands: [...TRAIN, 'eval'], describe: 'End the run with one JSON summary line on stdout', per: { eval: { describe: 'Print the result as one JSON line' } } },
  onNonfinite: { type: 'string', default: 'skip', check: 'choice', choices: NON_FINITE_POLICIES, commands: TRAIN, describe: 'A non-finite all-reduced loss or gradient: skip that update on every rank (counted in the summary) or abort' },
  maxNonfiniteSkips: { type: 'number', default: Defaults.maxNonfiniteSkips, check: 'int', range: [0, 1_000_000_000], commands: TRAIN, describe: 'More consecutive skipped (non-finite) steps than this end the run with RT_NON_FINITE: a run that cannot learn fails' },
  compress: { type: 'string', default: 'none', check: 'choice', choices: COMPRESSION_NAMES, commands: TRAIN, describe: 'Gradients on the wire: none (float32) or fp16 (half the bytes; every rank decodes the same bits)' },
  accumulate: { type: 'number', default: 1, check: 'int', range: [1, 1024], commands: TRAIN, describe: 'Sum K micro-batches of --batch-size locally before each all-reduce (one optimizer step per K x batch-size x workers samples)' },
  http: { type: 'boolean', default: true, commands: TRAIN, describe: 'Serve the dashboard, /status and /metrics over HTTP (--no-http: off)' },
  httpHost: { type: 'string', default: '127.0.0.1', check: 'text', want: 'be an address', commands: TRAIN, describe: 'Address the HTTP endpoint binds to; beyond loopback it needs the token (requests then present its HTTP key) or --insecure' },
  httpPort: {
    type: 'number', default: DEFAULT_HTTP_PORT, check: 'int', range: [-1, 65535], hint: '(0 = any free port, -1 = off)', commands: TRAIN,
    describe: 'HTTP port for the dashboard, /status and /metrics (0 = any free port, -1 = off)', per: { local: { default: 0 } },
  },
  tensorboard: { type: 'string', check: 'text', want: 'name a folder', refuseEmpty: true, commands: TRAIN, describe: 'Write TensorBoard scalar event files (loss, lr, samples/s, all-reduce ms, test/validation metrics) into DIR' },
  linger: { type: 'number', default: 0, check: 'seconds', range: [0, 604_800], commands: TRAIN, describe: 'Seconds the dashboard stays up after the run ends (the output folder also holds report.html)' },

  logLevel: { type: 'string', default: 'info', check: 'choice', choices: LOG_LEVELS, commands: ALL, describe: 'Log level (logs go to stderr)' },
  config: { type: 'string', commands: ALL, describe: 'JSON or YAML file with the same keys as the flags (flags > RINGTRAIN_* env > file > defaults)' },

  // Read by transport/security-config.ts, below this layer, which checks them itself.
  token: { type: 'string', commands: JOINED, describe: 'Shared secret proved by HMAC challenge-response (never sent). Prefer RINGTRAIN_TOKEN or --token-file: argv shows in ps' },
  tokenFile: { type: 'string', commands: JOINED, describe: 'File holding the shared secret' },
  insecure: { type: 'boolean', default: false, commands: JOINED, describe: 'Allow listening beyond loopback without a token (logged as a warning)' },
  tlsCert: { type: 'string', commands: JOINED, describe: 'PEM certificate: serve wss:// (with --tls-key)' },
  tlsKey: { type: 'string', commands: JOINED, describe: 'PEM private key of --tls-cert' },
  tlsCa: { type: 'string', commands: JOINED, describe: 'PEM CA certificate to trust when dialling wss:// peers (for self-signed certificates)' },

  minWorkers: {
    type: 'number', default: 1, check: 'int', range: [1, 1024], commands: TRAIN, describe: 'Workers to wait for before training starts',
    per: { local: { default: undefined, describe: 'Workers needed to train (default: --workers); with fewer the run waits, then fails' } },
  },
  // Checked by config.ts coordinatorUrl: the URL's scheme and port.
  coordinator: { type: 'string', required: true, commands: ['worker'], describe: 'Coordinator URL, e.g. ws://host:7070' },
  ringHost: { type: 'string', fallback: '0.0.0.0', check: 'text', commands: ['worker'], describe: 'Address the ring listener binds to (default: 127.0.0.1 when --coordinator is loopback, else 0.0.0.0)' },
  ringPort: { type: 'number', default: 0, check: 'int', range: [0, 65535], commands: ['worker'], describe: 'Ring listener port (0 = any free port)' },
  advertise: { type: 'string', check: 'text', commands: ['worker'], describe: 'Address ring peers use to reach this worker (default: the ring host, or the address used to reach the coordinator)' },
  workers: { type: 'number', fallback: 2, check: 'int', range: [1, 256], commands: ['local'], describe: 'Worker processes to start (default: one per --gpus entry, else 2)' },
  // Checked by config.ts gpuList: distinct device indices.
  gpus: { type: 'string', commands: ['local'], describe: 'One worker per listed GPU, e.g. 0,1,2,3 (each worker gets --gpu I)' },
  backend: {
    type: 'string', default: 'auto', check: 'choice', choices: BACKENDS, commands: ['worker', 'local', 'eval'], describe: 'Compute engine',
    per: { local: { describe: 'Compute engine of the workers' } },
  },
  gpu: { type: 'number', check: 'int', range: [0, 255], commands: ['worker'], describe: 'Device index on a machine with several GPUs (CUDA device for tensorflow, adapter for webgpu)' },
  threads: {
    type: 'number', check: 'int', range: [1, 1024], commands: ['worker', 'local'], describe: "Intra-op threads of the tensorflow engine (default: TensorFlow's own, all cores)",
    per: { local: { describe: "Each worker's tensorflow intra-op threads (default: this machine's cores / --workers, at least 1)" } },
  },
  workerLogLevel: { type: 'string', default: 'warn', check: 'choice', choices: LOG_LEVELS, commands: ['local'], describe: 'Log level of the worker processes' },
  data: {
    type: 'string', default: 'auto', check: 'choice', choices: DATA_MODES, commands: ['worker', 'local'],
    describe: "Batches: auto (load the job's data here; receive only indices when it matches the coordinator's) or stream (always receive the rows)",
    per: { local: { describe: "Workers' batches: auto (each loads the job's data and receives only indices when it matches) or stream (always the rows)" } },
  },
  maxRestarts: { type: 'number', default: 0, check: 'count', commands: ['local'], describe: 'Respawn a worker process that dies, up to this many times in total (it rejoins at the next step boundary)' },
  connectTimeout: { type: 'number', default: Defaults.connectTimeoutMs, check: 'int', range: DAY_MS, commands: ['worker'], describe: 'Milliseconds to keep retrying the coordinator before giving up' },
  managed: { type: 'boolean', default: false, hidden: true, commands: ['worker'], describe: 'Started by `ringtrain local`: Ctrl-C is left to the coordinator, which stops this worker' },
  reconnectTimeout: { type: 'number', default: Defaults.reconnectTimeoutMs, check: 'int', range: DAY_MS, commands: ['worker'], describe: 'After losing the coordinator, milliseconds to keep retrying (the worker keeps its state)' },
  model: { type: 'string', required: true, check: 'text', commands: ['eval'], describe: 'Folder holding model.json (a run output, or its best/ folder)' },
} as const satisfies Record<string, FlagSpec>;

export type FlagKey = keyof typeof FLAGS;
