#!/usr/bin/env node
/**
 * The command line: parses and validates flags (from argv, RINGTRAIN_* env and --config FILE),
 * then calls the library. Usage errors exit 2 with one line before any socket opens; a failed run
 * exits 1 with one line naming its stable error code.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BACKENDS, COMPRESSIONS, ConfigDefaults, DATA_MODES, LOG_LEVELS, coordinatorConfig, gpuList, workerConfig, type BackendName, type CoordinatorConfig, type DataMode, type LogLevel } from './shared/config/config.js';
import { ErrorCodes, RingtrainError, formatError, stackOf, toRingtrainError } from './shared/base/errors.js';
import { Defaults } from './shared/base/constants.js';
import { NON_FINITE_POLICIES } from './shared/protocol/protocol.js';
import { LR_SCHEDULES, OPTIMIZER_KEYS, OPTIMIZER_NAMES } from './shared/optim/index.js';
import { createLogger, type Logger } from './shared/base/logger.js';
import { readConfigFile } from './shared/config/config-file.js';
import { DEFAULT_HTTP_PORT, opsConfig, startOps } from './coordinator/ops/ops.js';
import type { RunObserver } from './coordinator/run-events.js';
import { evaluateSaved } from './jobs/saved-model.js';
import { outputsText } from './jobs/evaluate.js';
import { evalSettings, readRunRecord } from './jobs/run-record.js';
import { loadJob } from './jobs/registry.js';
import type { JobDefaults } from './shared/job/job.js';
import { launchCoordinator, type RunSummary } from './coordinator/coordinator.js';
import { summaryText } from './coordinator/ops/summary-text.js';
import { VERSION } from './shared/base/version.js';
import { explainUnknown } from './launch/unknown-args.js';
import { onInterrupts, runLocal } from './launch/local.js';
import { runWorker } from './worker/worker.js';
import { enginesCommand } from './shared/engine/native/command.js';
import { localThreads } from './launch/local.js';
import { dataCommand } from './launch/cli-data.js';

function common(y: Argv): Argv {
  return y
    .option('log-level', { type: 'string', choices: LOG_LEVELS, default: ConfigDefaults.logLevel, describe: 'Log level (logs go to stderr)' })
    .option('config', { type: 'string', describe: 'JSON or YAML file with the same keys as the flags (flags > RINGTRAIN_* env > file > defaults)' });
}

/** Authentication and TLS flags, the same on every command. */
function security(y: Argv): Argv {
  return y
    .option('token', { type: 'string', describe: 'Shared secret proved by HMAC challenge-response (never sent). Prefer RINGTRAIN_TOKEN or --token-file: argv shows in ps' })
    .option('token-file', { type: 'string', describe: 'File holding the shared secret' })
    .option('insecure', { type: 'boolean', default: false, describe: 'Allow listening beyond loopback without a token (logged as a warning)' })
    .option('tls-cert', { type: 'string', describe: 'PEM certificate: serve wss:// (with --tls-key)' })
    .option('tls-key', { type: 'string', describe: 'PEM private key of --tls-cert' })
    .option('tls-ca', { type: 'string', describe: 'PEM CA certificate to trust when dialling wss:// peers (for self-signed certificates)' });
}

function training(y: Argv): Argv {
  return y
    .option('host', { type: 'string', default: ConfigDefaults.host, describe: 'Address the coordinator listens on' })
    .option('port', { type: 'number', default: ConfigDefaults.port, describe: 'Port the coordinator listens on (0 = any free port)' })
    .option('job', { type: 'string', default: ConfigDefaults.job, describe: 'Built-in job (mnist-mlp, mnist-cnn, regression-mlp) or a path to a job module (./my-job.js)' })
    .option('epochs', { type: 'number', describe: "Epochs to train (default: the job's own, else 1)" })
    .option('batch-size', { type: 'number', describe: "Per-worker batch size; the global batch is this times the worker count (default: the job's, else 32)" })
    .option('lr', { type: 'number', describe: "Base learning rate (default: the job's, else 0.001)" })
    .option('optimizer', { type: 'string', choices: OPTIMIZER_NAMES, describe: "Update rule: adam (tf.train.adam), adamw (torch.optim.AdamW), sgd (torch.optim.SGD) (default: the job's, else adam)" })
    .option('weight-decay', { type: 'number', describe: 'adamw: decoupled weight decay (default 0.01); sgd: L2 penalty added to the gradient (default 0)' })
    .option('momentum', { type: 'number', describe: 'sgd: momentum in [0, 1) (default 0)' })
    .option('nesterov', { type: 'boolean', describe: 'sgd: Nesterov momentum (needs --momentum > 0)' })
    .option('lr-schedule', { type: 'string', choices: LR_SCHEDULES, describe: 'Learning rate per step: constant, warmup (linear warm-up, then constant), cosine (to 0 at --lr-decay-steps) or step (x --lr-gamma every --lr-step-size steps); all but constant start with --warmup-steps of linear warm-up' })
    .option('warmup-steps', { type: 'number', describe: 'Steps of linear warm-up from lr/W to lr (default 0)' })
    .option('lr-decay-steps', { type: 'number', describe: "cosine: the step at which the rate reaches 0, warm-up included (default: the run's planned steps at --min-workers)" })
    .option('lr-step-size', { type: 'number', describe: 'step: steps between two multiplications by --lr-gamma (default 1)' })
    .option('lr-gamma', { type: 'number', describe: 'step: factor applied every --lr-step-size steps (default 0.1)' })
    .option('clip-norm', { type: 'number', describe: "Clip the averaged gradient to this global L2 norm before the update (0 or absent: no clipping)" })
    .option('seed', { type: 'number', default: ConfigDefaults.seed, describe: 'Seed for initial weights, data split and sampling order' })
    .option('output', { type: 'string', describe: 'Directory for the trained model and summary (default: runs/<job>-<time>)' })
    .option('checksum-every', { type: 'number', default: ConfigDefaults.checksumEvery, describe: 'Compare replica weight checksums every K steps (and at the end)' })
    .option('step-timeout', { type: 'number', default: ConfigDefaults.stepTimeout, describe: 'Milliseconds a step may take before the run fails naming the slow ranks' })
    .option('rendezvous-timeout', { type: 'number', default: ConfigDefaults.rendezvousTimeout, describe: 'Milliseconds to wait for --min-workers to join (at start and after losing workers)' })
    .option('rendezvous-grace', { type: 'number', default: ConfigDefaults.rendezvousGrace, describe: 'Once --min-workers are in, milliseconds to wait for more before training starts' })
    .option('max-workers', { type: 'number', default: ConfigDefaults.maxWorkers, describe: 'Most workers in a generation; workers that arrive mid-run join at the next step boundary' })
    .option('checkpoint-every', { type: 'number', default: ConfigDefaults.checkpointEvery, describe: 'Write a checkpoint to the output directory every K steps (and at every epoch end)' })
    .option('resume', { type: 'string', describe: 'Continue the run whose output directory (checkpoint) is DIR' })
    .option('data-file', { type: 'string', describe: 'Training split from a packed file (ringtrain data pack); workers read their own rows from it, the coordinator only indexes it' })
    .option('init-from', { type: 'string', describe: 'Start from the weights of a saved model folder (model.json + weights, e.g. an earlier --output), with fresh optimizer state' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'Replace a previous run in --output (without it, such a folder is refused)' })
    .option('json', { type: 'boolean', default: false, describe: 'End the run with one JSON summary line on stdout' })
    .option('on-nonfinite', { type: 'string', choices: NON_FINITE_POLICIES, default: 'skip', describe: 'A non-finite all-reduced loss or gradient: skip that update on every rank (counted in the summary) or abort' })
    .option('max-nonfinite-skips', { type: 'number', default: Defaults.maxNonfiniteSkips, describe: 'More consecutive skipped (non-finite) steps than this end the run with RT_NON_FINITE: a run that cannot learn fails' })
    .option('compress', { type: 'string', choices: COMPRESSIONS, default: 'none', describe: 'Gradients on the wire: none (float32) or fp16 (half the bytes; every rank decodes the same bits)' })
    .option('accumulate', { type: 'number', default: 1, describe: 'Sum K micro-batches of --batch-size locally before each all-reduce (one optimizer step per K x batch-size x workers samples)' })
    .option('http', { type: 'boolean', default: true, describe: 'Serve the dashboard, /status and /metrics over HTTP (--no-http: off)' })
    .option('http-host', { type: 'string', default: '127.0.0.1', describe: 'Address the HTTP endpoint binds to; beyond loopback it needs the token (requests then present its HTTP key) or --insecure' })
    .option('http-port', { type: 'number', default: DEFAULT_HTTP_PORT, describe: 'HTTP port for the dashboard, /status and /metrics (0 = any free port, -1 = off)' })
    .option('tensorboard', { type: 'string', describe: 'Write TensorBoard scalar event files (loss, lr, samples/s, all-reduce ms, test/validation metrics) into DIR' })
    .option('linger', { type: 'number', default: 0, describe: 'Seconds the dashboard stays up after the run ends (the output folder also holds report.html)' });
}

/**
 * Runs `body` with the operations stack (dashboard, metrics, progress, exports) around it. The
 * HTTP flags are validated before any socket opens; the endpoint closes when the run ends (after
 * --linger seconds), and the human summary is printed before that.
 */
async function withOps(argv: Record<string, unknown>, cfg: CoordinatorConfig, log: Logger, body: (observers: RunObserver[]) => Promise<RunSummary>): Promise<void> {
  const ops = await startOps(opsConfig(argv, process.stderr.isTTY === true, cfg.security), log);
  try {
    // Printed before the dashboard lingers: the run is over for whoever reads the terminal.
    printSummary(argv, await body(ops.observers));
  } finally {
    await ops.close();
  }
}

/** Merges the job's own defaults, then validates: all before any socket opens. */
async function resolveTraining(argv: Record<string, unknown>): Promise<CoordinatorConfig> {
  const job = await loadJob(String(argv['job']));
  const d = job.defaults ?? {};
  return coordinatorConfig({
    ...argv,
    ...withJobOptimizer(argv, d),
    epochs: argv['epochs'] ?? d.epochs ?? ConfigDefaults.epochs,
    batchSize: argv['batchSize'] ?? d.batchSize ?? ConfigDefaults.batchSize,
    lr: argv['lr'] ?? d.lr ?? ConfigDefaults.lr,
  });
}

/**
 * The job's optimizer defaults under the flags given. Its values come in two groups that belong
 * to one choice each: weight decay, momentum and nesterov to its optimizer; warm-up and the
 * schedule's own keys to its schedule. A group applies only when the flags choose no other
 * optimizer (schedule); clipping applies on its own.
 */
function withJobOptimizer(argv: Record<string, unknown>, d: JobDefaults): Record<string, unknown> {
  const keep = (choice: 'optimizer' | 'lrSchedule', fallback: string): boolean => argv[choice] === undefined || argv[choice] === (d[choice] ?? fallback);
  const groups: Record<string, boolean> = {
    optimizer: keep('optimizer', 'adam'), weightDecay: keep('optimizer', 'adam'), momentum: keep('optimizer', 'adam'), nesterov: keep('optimizer', 'adam'),
    lrSchedule: keep('lrSchedule', 'constant'), warmupSteps: keep('lrSchedule', 'constant'), lrDecaySteps: keep('lrSchedule', 'constant'),
    lrStepSize: keep('lrSchedule', 'constant'), lrGamma: keep('lrSchedule', 'constant'), clipNorm: true,
  };
  const out: Record<string, unknown> = {};
  for (const k of OPTIMIZER_KEYS) if (k !== 'lr') out[k] = argv[k] ?? (groups[k] ? d[k] : undefined);
  return out;
}

/** Set once the log level is known: an unexpected (RT_INTERNAL) error then also prints its stack. */
let showStacks = false;

/** The run's end on stdout: one JSON line with --json, else a few lines for a person. */
function printSummary(argv: Record<string, unknown>, summary: RunSummary): void {
  process.stdout.write(argv['json'] ? `${JSON.stringify(summary)}\n` : summaryText(summary));
}

async function main(): Promise<void> {
  let exitCode = 0;
  // yargs throws some usage errors (unknown arguments, a bad --config file) synchronously from
  // parseAsync, so the promise's catch alone would miss them and the process would die with a
  // stack trace; one try/catch handles both paths the same way.
  try {
    await yargs(hideBin(process.argv))
      .scriptName('ringtrain')
      .usage('$0 <command> [options]\n\nData-parallel training for TensorFlow.js: a coordinator, workers, a ring all-reduce.')
      .env('RINGTRAIN')
      .config('config', readConfigFile)
      .middleware((argv) => void (showStacks = argv['logLevel'] === 'debug' || argv['logLevel'] === 'trace'))
      .command(
        'coordinator',
        'Run the coordinator of a training job; workers connect to it',
        (y) => security(common(training(y))).option('min-workers', { type: 'number', default: ConfigDefaults.minWorkers, describe: 'Workers to wait for before training starts' }),
        async (argv) => {
          const cfg = await resolveTraining(argv);
          const log = createLogger('coordinator', cfg.logLevel);
          await withOps(argv, cfg, log, async (observers) => {
            const handle = await launchCoordinator(cfg, { logger: log, observers });
            const stop = (): void => void handle.close(new RingtrainError(ErrorCodes.ABORTED, 'interrupted'));
            const releaseInterrupts = onInterrupts(() => handle.interrupt());
            process.once('SIGTERM', stop);
            // Once an uninterrupted run is over, Ctrl-C belongs to --linger (or to nobody).
            return handle.result.finally(releaseInterrupts);
          });
        },
      )
      .command(
        'worker',
        'Run one worker (one replica); it joins the coordinator and the ring',
        (y) =>
          security(common(y))
            .option('coordinator', { type: 'string', demandOption: true, describe: 'Coordinator URL, e.g. ws://host:7070' })
            .option('ring-host', { type: 'string', describe: 'Address the ring listener binds to (default: 127.0.0.1 when --coordinator is loopback, else 0.0.0.0)' })
            .option('ring-port', { type: 'number', default: ConfigDefaults.ringPort, describe: 'Ring listener port (0 = any free port)' })
            .option('advertise', { type: 'string', describe: 'Address ring peers use to reach this worker (default: the ring host, or the address used to reach the coordinator)' })
            .option('backend', { type: 'string', choices: BACKENDS, default: ConfigDefaults.backend, describe: 'Compute engine' })
            .option('gpu', { type: 'number', describe: 'Device index on a machine with several GPUs (CUDA device for tensorflow, adapter for webgpu)' })
            .option('threads', { type: 'number', describe: "Intra-op threads of the tensorflow engine (default: TensorFlow's own, all cores)" })
            .option('job', { type: 'string', describe: 'Job module path, when the coordinator runs a job that is not built in' })
            .option('data', { type: 'string', choices: DATA_MODES, default: ConfigDefaults.data, describe: "Batches: auto (load the job's data here; receive only indices when it matches the coordinator's) or stream (always receive the rows)" })
            .option('data-file', { type: 'string', describe: "This worker's copy of the coordinator's packed training file (--data-file there); its hash must match" })
            .option('connect-timeout', { type: 'number', default: ConfigDefaults.connectTimeout, describe: 'Milliseconds to keep retrying the coordinator before giving up' })
            .option('managed', { type: 'boolean', default: false, hidden: true, describe: 'Started by `ringtrain local`: Ctrl-C is left to the coordinator, which stops this worker' })
            .option('reconnect-timeout', { type: 'number', default: ConfigDefaults.reconnectTimeout, describe: 'After losing the coordinator, milliseconds to keep retrying (the worker keeps its state)' }),
        async (argv) => {
          const cfg = workerConfig(argv);
          // The terminal's Ctrl-C reaches `local`'s children too; their coordinator decides.
          if (argv['managed'] === true) process.on('SIGINT', () => undefined);
          try {
            await runWorker(cfg, createLogger('worker', cfg.logLevel));
          } catch (err) {
            // Under `local`, the coordinator already prints why the run was aborted (Ctrl-C): its
            // workers exit 1 without repeating the same line once each.
            if (argv['managed'] === true && err instanceof RingtrainError && err.code === ErrorCodes.ABORTED) {
              process.exitCode = 1;
              return;
            }
            throw err;
          }
        },
      )
      .command(
        'local',
        'Run a coordinator and N worker processes on this machine',
        (y) =>
          security(common(training(y)))
            .option('workers', { type: 'number', describe: 'Worker processes to start (default: one per --gpus entry, else 2)' })
            .option('gpus', { type: 'string', describe: 'One worker per listed GPU, e.g. 0,1,2,3 (each worker gets --gpu I)' })
            .option('backend', { type: 'string', choices: BACKENDS, default: ConfigDefaults.backend, describe: 'Compute engine of the workers' })
            .option('worker-log-level', { type: 'string', choices: LOG_LEVELS, default: 'warn', describe: 'Log level of the worker processes' })
            .option('data', { type: 'string', choices: DATA_MODES, default: ConfigDefaults.data, describe: "Workers' batches: auto (each loads the job's data and receives only indices when it matches) or stream (always the rows)" })
            .option('min-workers', { type: 'number', describe: 'Workers needed to train (default: --workers); with fewer the run waits, then fails' })
            .option('max-restarts', { type: 'number', default: 0, describe: 'Respawn a worker process that dies, up to this many times in total (it rejoins at the next step boundary)' })
            .option('threads', { type: 'number', describe: "Each worker's tensorflow intra-op threads (default: this machine's cores / --workers, at least 1)" })
            .default('port', 0)
            .default('http-port', 0),
        async (argv) => {
          const gpus = argv['gpus'] === undefined ? null : gpuList(argv['gpus']);
          const workers = argv['workers'] ?? gpus?.length ?? 2;
          if (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 1 || workers > 256) {
            throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--workers must be an integer in [1, 256] (got ${String(workers)})`);
          }
          if (argv['data'] === 'stream' && argv['dataFile'] !== undefined) throw new RingtrainError(ErrorCodes.BAD_CONFIG, '--data stream cannot be used with --data-file: workers read their own rows from the file');
          if (gpus && workers !== gpus.length) throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--workers ${workers} disagrees with --gpus ${gpus.join(',')} (one worker per GPU; drop --workers)`);
          const maxRestarts = argv['maxRestarts'];
          if (typeof maxRestarts !== 'number' || !Number.isInteger(maxRestarts) || maxRestarts < 0) {
            throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--max-restarts must be a non-negative integer (got ${String(maxRestarts)})`);
          }
          // One machine: the generation is exactly the processes we start, unless told otherwise.
          const cfg = await resolveTraining({
            ...argv, minWorkers: argv['minWorkers'] ?? workers, maxWorkers: argv['maxWorkers'] === ConfigDefaults.maxWorkers ? workers : argv['maxWorkers'],
          });
          const threads = localThreads(argv['threads'], workers);
          const log = createLogger('coordinator', cfg.logLevel);
          await withOps(argv, cfg, log, (observers) =>
            runLocal(cfg, { workers, gpus, maxRestarts, threads, backend: argv['backend'] as BackendName, workerLogLevel: argv['workerLogLevel'] as LogLevel, data: argv['data'] as DataMode, observers }, log),
          );
        },
      )
      .command(enginesCommand)
      .command(
        'eval',
        "Evaluate a saved model (model.json + weights) on a job's test split",
        (y) =>
          common(y)
            .option('model', { type: 'string', demandOption: true, describe: 'Folder holding model.json (a run output, or its best/ folder)' })
            .option('job', { type: 'string', describe: "Job whose test split to use (default: the one the model records; built-in name or module path)" })
            .option('seed', { type: 'number', describe: "The training run's --seed, which fixes the split (default: the one the model records; another is refused)" })
            .option('backend', { type: 'string', choices: BACKENDS, default: ConfigDefaults.backend, describe: 'Compute engine' })
            .option('json', { type: 'boolean', default: false, describe: 'Print the result as one JSON line' }),
        async (argv) => {
          const log = createLogger('eval', argv['logLevel'] as LogLevel);
          const seed = argv['seed'];
          if (seed !== undefined && (!Number.isInteger(seed) || seed < 0)) throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--seed must be a non-negative integer (got ${String(seed)})`);
          const settings = evalSettings(await readRunRecord(argv['model']), argv['job'], seed, ConfigDefaults.seed);
          const r = await evaluateSaved(argv['model'], settings.jobSpec, settings.seed, argv['backend'] as BackendName, log);
          if (argv['json']) process.stdout.write(`${JSON.stringify(r)}\n`);
          else process.stdout.write(`${r.job} test split (${r.samples} samples, seed ${r.seed}): loss ${r.loss.toPrecision(6)}${r.accuracy === null ? '' : `, accuracy ${(r.accuracy * 100).toFixed(2)}%`}${outputsText(r.outputs)}\n`);
        },
      )
      .command('data', 'Packed datasets: build one (pack) or check one (inspect)', dataCommand)
      .demandCommand(1, 'name a command: coordinator, worker, local, engines, eval or data')
      .strict()
      .help()
      .alias('help', 'h')
      .version(VERSION)
      .fail((msg, err) => {
        // yargs calls this for usage errors (msg) and for errors thrown by handlers (err).
        if (err) throw err;
        throw new RingtrainError(ErrorCodes.BAD_CONFIG, explainUnknown(msg, process.env, hideBin(process.argv)));
      })
      .parseAsync();
  } catch (err: unknown) {
    // A usage error yargs raises itself (e.g. from --config) arrives as a plain YError.
    // Usage problems (found before any socket opens) exit 2; failed runs exit 1.
    const usageCodes: string[] = [ErrorCodes.BAD_CONFIG, ErrorCodes.UNKNOWN_JOB, ErrorCodes.JOB_LOAD, ErrorCodes.JOB_INVALID, ErrorCodes.CHECKPOINT_MISMATCH, ErrorCodes.BAD_CHECKPOINT, ErrorCodes.BAD_DATA, ErrorCodes.DATA_MISMATCH];
    const usage = (err instanceof RingtrainError && usageCodes.includes(err.code)) || (err instanceof Error && err.name === 'YError');
    process.stderr.write(`ringtrain: ${formatError(usage && !(err instanceof RingtrainError) ? new RingtrainError(ErrorCodes.BAD_CONFIG, err instanceof Error ? err.message : String(err)) : err)}\n`);
    exitCode = usage ? 2 : 1;
    const e = toRingtrainError(err);
    if (showStacks && e.code === ErrorCodes.INTERNAL) process.stderr.write(`${stackOf(e) ?? '(no stack)'}\n`);
  }
  // A handler may have set its own status (a quietly aborted managed worker).
  process.exitCode ??= exitCode;
}

await main();
