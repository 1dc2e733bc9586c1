#!/usr/bin/env node
/**
 * The command line: parses and validates flags (from argv, RINGTRAIN_* env and --config FILE),
 * then calls the library. Usage errors exit 2 with one line before any socket opens; a failed run
 * exits 1 with one line naming its stable error code.
 */
import { readFileSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BACKENDS, ConfigDefaults, LOG_LEVELS, coordinatorConfig, gpuList, workerConfig, type BackendName, type CoordinatorConfig, type LogLevel } from './shared/config.js';
import { ErrorCodes, RingtrainError, formatError } from './shared/errors.js';
import { createLogger } from './shared/logger.js';
import { loadJob } from './jobs/registry.js';
import { launchCoordinator } from './coordinator/coordinator.js';
import { runLocal } from './coordinator/local.js';
import { runWorker } from './worker/worker.js';

/** Reads `--config FILE` (JSON); any problem is a one-line RT_BAD_CONFIG. */
function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RingtrainError(ErrorCodes.BAD_CONFIG, `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new RingtrainError(ErrorCodes.BAD_CONFIG, `config file ${path} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RingtrainError(ErrorCodes.BAD_CONFIG, `config file ${path} must hold a JSON object of flag names to values`);
  return parsed as Record<string, unknown>;
}

function common(y: Argv): Argv {
  return y
    .option('log-level', { type: 'string', choices: LOG_LEVELS, default: ConfigDefaults.logLevel, describe: 'Log level (logs go to stderr)' })
    .option('config', { type: 'string', describe: 'JSON file with the same keys as the flags (flags > RINGTRAIN_* env > file > defaults)' });
}

function training(y: Argv): Argv {
  return y
    .option('host', { type: 'string', default: ConfigDefaults.host, describe: 'Address the coordinator listens on' })
    .option('port', { type: 'number', default: ConfigDefaults.port, describe: 'Port the coordinator listens on (0 = any free port)' })
    .option('job', { type: 'string', default: ConfigDefaults.job, describe: 'Built-in job (mnist-mlp, mnist-cnn, regression-mlp) or a path to a job module (./my-job.js)' })
    .option('epochs', { type: 'number', describe: "Epochs to train (default: the job's own, else 1)" })
    .option('batch-size', { type: 'number', describe: "Per-worker batch size; the global batch is this times the worker count (default: the job's, else 32)" })
    .option('lr', { type: 'number', describe: "Adam learning rate (default: the job's, else 0.001)" })
    .option('seed', { type: 'number', default: ConfigDefaults.seed, describe: 'Seed for initial weights, data split and sampling order' })
    .option('output', { type: 'string', describe: 'Directory for the trained model and summary (default: runs/<job>-<time>)' })
    .option('checksum-every', { type: 'number', default: ConfigDefaults.checksumEvery, describe: 'Compare replica weight checksums every K steps (and at the end)' })
    .option('step-timeout', { type: 'number', default: ConfigDefaults.stepTimeout, describe: 'Milliseconds a step may take before the run fails naming the slow ranks' })
    .option('rendezvous-timeout', { type: 'number', default: ConfigDefaults.rendezvousTimeout, describe: 'Milliseconds to wait for --min-workers to join' })
    .option('json', { type: 'boolean', default: false, describe: 'End the run with one JSON summary line on stdout' });
}

/** Merges the job's own defaults, then validates: all before any socket opens. */
async function resolveTraining(argv: Record<string, unknown>): Promise<CoordinatorConfig> {
  const job = await loadJob(String(argv['job']));
  const d = job.defaults ?? {};
  return coordinatorConfig({
    ...argv,
    epochs: argv['epochs'] ?? d.epochs ?? ConfigDefaults.epochs,
    batchSize: argv['batchSize'] ?? d.batchSize ?? ConfigDefaults.batchSize,
    lr: argv['lr'] ?? d.lr ?? ConfigDefaults.lr,
  });
}

async function main(): Promise<void> {
  let exitCode = 0;
  await yargs(hideBin(process.argv))
    .scriptName('ringtrain')
    .usage('$0 <command> [options]\n\nData-parallel training for TensorFlow.js: a coordinator, workers, a ring all-reduce.')
    .env('RINGTRAIN')
    .config('config', readConfigFile)
    .command(
      'coordinator',
      'Run the coordinator of a training job; workers connect to it',
      (y) => common(training(y)).option('min-workers', { type: 'number', default: ConfigDefaults.minWorkers, describe: 'Workers to wait for before training starts' }),
      async (argv) => {
        const cfg = await resolveTraining(argv);
        const log = createLogger('coordinator', cfg.logLevel);
        const handle = await launchCoordinator(cfg, { logger: log });
        const stop = (): void => void handle.close(new RingtrainError(ErrorCodes.ABORTED, 'interrupted'));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const summary = await handle.result;
        if (argv['json']) process.stdout.write(`${JSON.stringify(summary)}\n`);
      },
    )
    .command(
      'worker',
      'Run one worker (one replica); it joins the coordinator and the ring',
      (y) =>
        common(y)
          .option('coordinator', { type: 'string', demandOption: true, describe: 'Coordinator URL, e.g. ws://host:7070' })
          .option('ring-host', { type: 'string', default: ConfigDefaults.ringHost, describe: 'Address the ring listener binds to' })
          .option('ring-port', { type: 'number', default: ConfigDefaults.ringPort, describe: 'Ring listener port (0 = any free port)' })
          .option('advertise', { type: 'string', describe: 'Address ring peers use to reach this worker (default: the ring host, or the address used to reach the coordinator)' })
          .option('backend', { type: 'string', choices: BACKENDS, default: ConfigDefaults.backend, describe: 'Compute engine' })
          .option('gpu', { type: 'number', describe: 'Device index on a machine with several GPUs (CUDA device for tensorflow, adapter for webgpu)' })
          .option('job', { type: 'string', describe: 'Job module path, when the coordinator runs a job that is not built in' })
          .option('connect-timeout', { type: 'number', default: ConfigDefaults.connectTimeout, describe: 'Milliseconds to keep retrying the coordinator before giving up' }),
      async (argv) => {
        const cfg = workerConfig(argv);
        await runWorker(cfg, createLogger('worker', cfg.logLevel));
      },
    )
    .command(
      'local',
      'Run a coordinator and N worker processes on this machine',
      (y) =>
        common(training(y))
          .option('workers', { type: 'number', describe: 'Worker processes to start (default: one per --gpus entry, else 2)' })
          .option('gpus', { type: 'string', describe: 'One worker per listed GPU, e.g. 0,1,2,3 (each worker gets --gpu I)' })
          .option('backend', { type: 'string', choices: BACKENDS, default: ConfigDefaults.backend, describe: 'Compute engine of the workers' })
          .option('worker-log-level', { type: 'string', choices: LOG_LEVELS, default: 'warn', describe: 'Log level of the worker processes' })
          .default('port', 0),
      async (argv) => {
        const gpus = argv['gpus'] === undefined ? null : gpuList(argv['gpus']);
        const workers = argv['workers'] ?? gpus?.length ?? 2;
        if (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 1 || workers > 256) {
          throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--workers must be an integer in [1, 256] (got ${String(workers)})`);
        }
        if (gpus && workers !== gpus.length) throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--workers ${workers} disagrees with --gpus ${gpus.join(',')} (one worker per GPU; drop --workers)`);
        const cfg = await resolveTraining({ ...argv, minWorkers: workers });
        const log = createLogger('coordinator', cfg.logLevel);
        const summary = await runLocal(cfg, { workers, gpus, backend: argv['backend'] as BackendName, workerLogLevel: argv['workerLogLevel'] as LogLevel }, log);
        if (argv['json']) process.stdout.write(`${JSON.stringify(summary)}\n`);
      },
    )
    .demandCommand(1, 'name a command: coordinator, worker or local')
    .strict()
    .help()
    .alias('help', 'h')
    .version(false)
    .fail((msg, err) => {
      // yargs calls this for usage errors (msg) and for errors thrown by handlers (err).
      if (err) throw err;
      throw new RingtrainError(ErrorCodes.BAD_CONFIG, msg);
    })
    .parseAsync()
    .catch((err: unknown) => {
      process.stderr.write(`ringtrain: ${formatError(err)}\n`);
      exitCode = err instanceof RingtrainError && err.code === ErrorCodes.BAD_CONFIG ? 2 : 1;
    });
  process.exitCode = exitCode;
}

await main();
