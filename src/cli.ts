#!/usr/bin/env node
/**
 * The command line: parses and validates flags (from argv, RINGTRAIN_* env and --config FILE),
 * then calls the library. Usage errors exit 2 with one line before any socket opens; a failed run
 * exits 1 with one line naming its stable error code.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BACKENDS, ConfigDefaults, LOG_LEVELS, coordinatorConfig, localPlan, localTraining, workerConfig, type CoordinatorConfig } from './shared/config/config.js';
import { choiceFlag, optNumberFlag, optTextFlag, textFlag, withJobDefaults } from './shared/config/flags.js';
import { withFlags } from './launch/cli-options.js';
import { ErrorCodes, RingtrainError, formatError, stackOf, toRingtrainError } from './shared/base/errors.js';
import { createLogger, type Logger } from './shared/base/logger.js';
import { readConfigFile } from './shared/config/config-file.js';
import { opsConfig, startOps } from './coordinator/ops/ops.js';
import type { RunObserver } from './coordinator/run-events.js';
import { evaluateSaved } from './jobs/saved-model.js';
import { outputsText } from './jobs/evaluate.js';
import { evalSettings, readRunRecord } from './jobs/run-record.js';
import { loadJob } from './jobs/registry.js';
import { launchCoordinator, type RunSummary } from './coordinator/coordinator.js';
import { summaryText } from './coordinator/ops/summary-text.js';
import { VERSION } from './shared/base/version.js';
import { explainUnknown } from './launch/unknown-args.js';
import { localThreads, onInterrupts, runLocal } from './launch/local.js';
import { runWorker } from './worker/worker.js';
import { enginesCommand } from './shared/engine/native/command.js';
import { dataCommand } from './launch/cli-data.js';

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

/** Merges the job's own defaults under the flags, then validates: all before any socket opens. */
async function resolveTraining(argv: Record<string, unknown>): Promise<CoordinatorConfig> {
  const job = await loadJob(String(argv['job']));
  return coordinatorConfig(withJobDefaults(argv, job.defaults ?? {}));
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
        (y) => withFlags(y, 'coordinator'),
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
        (y) => withFlags(y, 'worker'),
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
        (y) => withFlags(y, 'local'),
        async (argv) => {
          const plan = localPlan(argv);
          const cfg = await resolveTraining(localTraining(argv, plan.workers));
          const threads = localThreads(argv['threads'], plan.workers);
          const log = createLogger('coordinator', cfg.logLevel);
          await withOps(argv, cfg, log, (observers) =>
            runLocal(cfg, { ...plan, threads, observers }, log),
          );
        },
      )
      .command(enginesCommand)
      .command(
        'eval',
        "Evaluate a saved model (model.json + weights) on a job's test split",
        (y) => withFlags(y, 'eval'),
        async (argv) => {
          const log = createLogger('eval', choiceFlag(argv, 'logLevel', LOG_LEVELS, 'eval'));
          const seed = optNumberFlag(argv, 'seed', 'eval') ?? undefined;
          const model = textFlag(argv, 'model', 'eval');
          const settings = evalSettings(await readRunRecord(model), optTextFlag(argv, 'job', 'eval') ?? undefined, seed, ConfigDefaults.seed);
          const r = await evaluateSaved(model, settings.jobSpec, settings.seed, choiceFlag(argv, 'backend', BACKENDS, 'eval'), log);
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
