#!/usr/bin/env node
/**
 * The command line: parses and validates flags (from argv, RINGTRAIN_* env and --config FILE),
 * then calls the library. Usage errors exit 2 with one line before any socket opens; a failed run
 * exits 1 with one line naming its stable error code.
 */
import { readFileSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BACKENDS, ConfigDefaults, LOG_LEVELS, coordinatorConfig, workerConfig, type BackendName, type CoordinatorConfig, type LogLevel } from './shared/config.js';
import { ErrorCodes, RingtrainError, formatError } from './shared/errors.js';
import { NON_FINITE_POLICIES } from './shared/protocol.js';
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
    .option('job', { type: 'string', default: ConfigDefaults.job, describe: 'Built-in job (mnist-mlp, regression-mlp) or a path to a job module (./my-job.js)' })
    .option('epochs', { type: 'number', describe: "Epochs to train (default: the job's own, else 1)" })
    .option('batch-size', { type: 'number', describe: "Per-worker batch size; the global batch is this times the worker count (default: the job's, else 32)" })
    .option('lr', { type: 'number', describe: "Adam learning rate (default: the job's, else 0.001)" })
    .option('seed', { type: 'number', default: ConfigDefaults.seed, describe: 'Seed for initial weights, data split and sampling order' })
    .option('output', { type: 'string', describe: 'Directory for the trained model and summary (default: runs/<job>-<time>)' })
    .option('checksum-every', { type: 'number', default: ConfigDefaults.checksumEvery, describe: 'Compare replica weight checksums every K steps (and at the end)' })
    .option('step-timeout', { type: 'number', default: ConfigDefaults.stepTimeout, describe: 'Milliseconds a step may take before the run fails naming the slow ranks' })
    .option('rendezvous-timeout', { type: 'number', default: ConfigDefaults.rendezvousTimeout, describe: 'Milliseconds to wait for --min-workers to join' })
    .option('json', { type: 'boolean', default: false, describe: 'End the run with one JSON summary line on stdout' })
    .option('on-nonfinite', { type: 'string', choices: NON_FINITE_POLICIES, default: 'skip', describe: 'A non-finite all-reduced loss or gradient: skip that update on every rank (counted in the summary) or abort' });
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
  // yargs throws validation failures synchronously from parseAsync, so both paths meet in catch.
  try {
    await yargs(hideBin(process.argv))
    .scriptName('ringtrain')
    .usage('$0 <command> [options]\n\nData-parallel training for TensorFlow.js: a coordinator, workers, a ring all-reduce.')
    .env('RINGTRAIN')
    .config('config', readConfigFile)
    .command(
      'coordinator',
      'Run the coordinator of a training job; workers connect to it',
      (y) => security(common(training(y))).option('min-workers', { type: 'number', default: ConfigDefaults.minWorkers, describe: 'Workers to wait for before training starts' }),
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
        security(common(y))
          .option('coordinator', { type: 'string', demandOption: true, describe: 'Coordinator URL, e.g. ws://host:7070' })
          .option('ring-host', { type: 'string', default: ConfigDefaults.ringHost, describe: 'Address the ring listener binds to' })
          .option('ring-port', { type: 'number', default: ConfigDefaults.ringPort, describe: 'Ring listener port (0 = any free port)' })
          .option('advertise', { type: 'string', describe: 'Address ring peers use to reach this worker (default: the ring host, or the address used to reach the coordinator)' })
          .option('backend', { type: 'string', choices: BACKENDS, default: ConfigDefaults.backend, describe: 'Compute engine' })
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
        security(common(training(y)))
          .option('workers', { type: 'number', default: 2, describe: 'Worker processes to start' })
          .option('backend', { type: 'string', choices: BACKENDS, default: ConfigDefaults.backend, describe: 'Compute engine of the workers' })
          .option('worker-log-level', { type: 'string', choices: LOG_LEVELS, default: 'warn', describe: 'Log level of the worker processes' })
          .default('port', 0),
      async (argv) => {
        const workers = argv['workers'];
        if (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 1 || workers > 256) {
          throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--workers must be an integer in [1, 256] (got ${String(workers)})`);
        }
        const cfg = await resolveTraining({ ...argv, minWorkers: workers });
        const log = createLogger('coordinator', cfg.logLevel);
        const summary = await runLocal(cfg, { workers, backend: argv['backend'] as BackendName, workerLogLevel: argv['workerLogLevel'] as LogLevel }, log);
        if (argv['json']) process.stdout.write(`${JSON.stringify(summary)}\n`);
      },
    )
    .demandCommand(1, 'name a command: coordinator, worker or local')
    .strict()
    .help()
    .alias('help', 'h')
    .version(false)
    .fail((msg, err) => {
      // yargs calls this for its own usage errors (msg, or a YError such as a bad --config file)
      // and for errors thrown by command handlers (err), which keep their codes.
      if (err && err.name !== 'YError') throw err;
      throw new RingtrainError(ErrorCodes.BAD_CONFIG, msg || err?.message || 'invalid arguments');
    })
    .parseAsync();
  } catch (err) {
    process.stderr.write(`ringtrain: ${formatError(err)}\n`);
    // Usage problems (found before any socket opens) exit 2; failed runs exit 1.
    const usage: string[] = [ErrorCodes.BAD_CONFIG, ErrorCodes.UNKNOWN_JOB, ErrorCodes.JOB_LOAD];
    exitCode = err instanceof RingtrainError && usage.includes(err.code) ? 2 : 1;
  }
  process.exitCode = exitCode;
}

await main();
