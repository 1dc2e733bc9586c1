/**
 * The library API as a program uses it: fit() from the built package (dist/, as `import { fit }
 * from 'ringtrain'` loads it), starting real worker processes. History against the run's own
 * metrics.jsonl, every step seen by onBatchEnd, early stopping by callback (at an epoch's end and
 * within an epoch) and by --early-stop-patience, jobs given as objects, bad options refused before
 * anything starts, and the README's example run verbatim.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type * as TF from '@tensorflow/tfjs';
import { runCli, runNode, summaryOf } from '../helpers/cli.js';
import { savedWeights } from '../helpers/weights.js';
import { freePort } from '../../bench/cli-proc.js';

type Lib = typeof import('../../src/index.js');
const lib = (await import(pathToFileURL(resolve('dist/index.js')).href)) as Lib;
const tf = (await import('@tensorflow/tfjs')) as typeof TF;

const dir = mkdtempSync(join(tmpdir(), 'rt-fit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const OVERFIT = resolve('tests/fixtures/overfit-job.mjs');
const TINY = resolve('tests/fixtures/tiny-job.mjs');

interface EpochLine { event: string; epoch: number; trainLoss: number; valLoss: number | null; testLoss: number }
function epochLines(out: string): EpochLine[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as EpochLine).filter((l) => l.event === 'epoch');
}

/** The rejection's stable code and message (errors from dist/ are its own RingtrainError class). */
async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: String((err as { code?: unknown }).code), message: (err as Error).message };
  }
  return { code: 'no error', message: '' };
}

describe('fit()', () => {
  it('trains a built-in job on 2 workers: one History entry per epoch, equal to the run metrics; onBatchEnd sees every step', async () => {
    const out = join(dir, 'builtin');
    const batches: { batch: number; step: number; epoch: number; loss: number }[] = [];
    const epochs: number[] = [];
    const r = await lib.fit({
      job: 'regression-mlp', workers: 2, epochs: 2, output: out,
      callbacks: {
        onBatchEnd: (batch, logs) => void batches.push({ batch, step: logs.step, epoch: logs.epoch, loss: logs.loss }),
        onEpochEnd: async (epoch) => {
          await new Promise((r) => setTimeout(r, 10)); // an async callback is awaited in order
          epochs.push(epoch);
        },
      },
    });
    const lines = epochLines(out);
    expect(r.epoch).toEqual([0, 1]);
    expect(epochs).toEqual([0, 1]);
    expect(r.history['loss']).toEqual(lines.map((l) => l.trainLoss));
    expect(r.history['val_loss']).toEqual(lines.map((l) => l.valLoss));
    expect(r.history['test_loss']).toEqual(lines.map((l) => l.testLoss));
    // The job's own defaults apply (batch 32), not the CLI's alone.
    expect(r.summary).toMatchObject({ workers: 2, epochs: 2, batchSize: 32, stopped: false, finalLoss: r.history['loss']![1], testLoss: r.history['test_loss']![1] });
    expect(r.params).toMatchObject({ epochs: 2, batchSize: 32, workers: 2, stepsPerEpoch: 50 });
    expect(batches.map((b) => b.step)).toEqual(Array.from({ length: r.summary.steps }, (_, i) => i));
    expect(batches.map((b) => b.batch)).toEqual(batches.map((b) => b.step % 50));
    // The epoch's loss is the sample-weighted mean of its steps' losses (equal-sized steps here).
    const mean0 = batches.filter((b) => b.epoch === 0).reduce((a, b) => a + b.loss, 0) / 50;
    expect(r.history['loss']![0]).toBeCloseTo(mean0, 6);
    expect(new Set(r.summary.replicaChecksums).size).toBe(1);
    expect(existsSync(join(out, 'model.json')) && existsSync(join(out, 'best', 'best.json'))).toBe(true);
    // The same run from the CLI, with only what fit() was given: the library applied the same
    // defaults (the job's, then the CLI's), so the replicas end bit-identical.
    const cli = summaryOf(await runCli(['local', '--workers', '2', '--job', 'regression-mlp', '--epochs', '2', '--output', join(dir, 'builtin-cli'), '--json', '--log-level', 'warn', '--no-http']));
    expect(cli['replicaChecksums']).toEqual(r.summary.replicaChecksums);
    expect(cli['finalLoss']).toBe(r.summary.finalLoss);
  });

  it('a callback stops the run at an epoch end: the model saved is exactly the weights evaluated there', async () => {
    const out = join(dir, 'stop-epoch');
    const r = await lib.fit({
      job: OVERFIT, workers: 2, epochs: 10, output: out,
      callbacks: { onEpochEnd: (epoch, _logs, control) => void (control.stopTraining = epoch === 1) },
    });
    expect(r.epoch).toEqual([0, 1]);
    // 64 rows, 8 per worker and step: 4 steps an epoch.
    expect(r.summary).toMatchObject({ stopped: true, epochs: 2, steps: 8 });
    expect(new Set(r.summary.replicaChecksums).size).toBe(1);
    const saved = await lib.evaluateSaved(out, OVERFIT, 42, 'auto', lib.createLogger('eval', 'silent'));
    expect(saved.loss).toBe(r.history['test_loss']![1]);
  });

  it('a callback stops the run within an epoch: the steps handed out complete, every rank reports the same state, the model is saved', async () => {
    const out = join(dir, 'stop-step');
    const steps: number[] = [];
    const r = await lib.fit({
      job: 'regression-mlp', workers: 2, epochs: 3, output: out,
      callbacks: { onBatchEnd: (_b, logs, control) => {
        steps.push(logs.step);
        if (logs.step === 5) control.stopTraining = true;
      } },
    });
    expect(r.epoch).toEqual([]);
    expect(r.summary.stopped).toBe(true);
    // Stopped before the first epoch's end (50 steps), after the step that asked.
    expect(r.summary.steps).toBeGreaterThan(5);
    expect(r.summary.steps).toBeLessThan(50);
    expect(steps).toEqual(Array.from({ length: r.summary.steps }, (_, i) => i));
    expect(r.summary.samplesPerEpoch).toEqual([r.summary.steps * 64]);
    expect(new Set(r.summary.replicaChecksums).size).toBe(1);
    expect(savedWeights(out).length).toBeGreaterThan(0);
    // The final, never-evaluated weights are scored for the summary.
    const saved = await lib.evaluateSaved(out, 'regression-mlp', 42, 'auto', lib.createLogger('eval', 'silent'));
    expect(saved.loss).toBe(r.summary.testLoss);
  });

  it('a callback that throws stops the run cleanly and fit() rejects with its error', async () => {
    const out = join(dir, 'throws');
    const e = await refusal(lib.fit({ job: TINY, workers: 2, epochs: 5, output: out, callbacks: { onEpochEnd: () => { throw new Error('my callback broke'); } } }));
    expect(e.message).toBe('my callback broke');
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { stopped: boolean; epochs: number };
    expect(summary).toMatchObject({ stopped: true, epochs: 1 });
  });
});

describe('early stopping by patience', () => {
  it('--early-stop-patience ends a run whose validation loss stops improving, keeping the best epoch in best/', async () => {
    const out = join(dir, 'patience');
    const s = summaryOf(await runCli(['local', '--workers', '2', '--job', OVERFIT, '--early-stop-patience', '2', '--output', out, '--json', '--log-level', 'warn']));
    const val = epochLines(out).map((l) => l.valLoss!);
    const best = val.indexOf(Math.min(...val));
    // Ended exactly 2 epochs after the best one, well before the job's 20 epochs.
    expect(s).toMatchObject({ stopped: true, epochs: best + 3 });
    expect(val.length).toBe(best + 3);
    expect(val.length).toBeLessThan(20);
    // Epochs since the best so far, epoch by epoch: only the last one reaches 2.
    let bestSoFar = Infinity;
    let waited = 0;
    const waits = val.map((v) => (v < bestSoFar ? ((bestSoFar = v), (waited = 0)) : ++waited));
    expect(waits.slice(0, -1).every((w) => w < 2)).toBe(true);
    expect(waits[waits.length - 1]).toBe(2);
    expect(JSON.parse(readFileSync(join(out, 'best', 'best.json'), 'utf8'))).toMatchObject({ epoch: best + 1, value: val[best] });
    expect(existsSync(join(out, 'model.json'))).toBe(true);
  });

  it('patience on a job without a validation split is refused before any worker starts', async () => {
    const out = join(dir, 'no-val');
    const r = await runCli(['local', '--workers', '2', '--job', TINY, '--early-stop-patience', '1', '--output', out]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').pop()).toBe(`ringtrain: error RT_BAD_CONFIG: --early-stop-patience watches the validation loss, and job tiny has no validation split`);
    expect(existsSync(out)).toBe(false);
  });
});

describe('workers from elsewhere', () => {
  it('workers 0 starts none: fit() waits for minWorkers started by hand (`ringtrain worker`)', async () => {
    const port = await freePort();
    const running = lib.fit({ job: TINY, workers: 0, minWorkers: 1, port, epochs: 1, output: join(dir, 'joined') });
    const worker = await runCli(['worker', '--coordinator', `ws://127.0.0.1:${port}`, '--job', TINY, '--log-level', 'warn']);
    const r = await running;
    expect(worker.code, worker.stderr.slice(-2000)).toBe(0);
    expect(r.summary).toMatchObject({ workers: 1, epochs: 1, steps: 12 });
    expect(r.history['loss']).toHaveLength(1);
  });
});

describe('jobs given as objects', () => {
  it('{ model, data, loss }: trains on from the model\'s weights, and the model holds the trained ones afterwards', async () => {
    const out = join(dir, 'model-job');
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax' })] });
    const n = 48;
    const x = new Float32Array(n * 4);
    const y = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) {
      for (let f = 0; f < 4; f++) x[i * 4 + f] = Math.sin(i * 7 + f) + (f === i % 3 ? 1 : 0);
      y[i * 3 + (i % 3)] = 1;
    }
    const before = model.getWeights().map((w) => Array.from(w.dataSync()));
    const r = await lib.fit({ job: { model, data: { train: { x, y, size: n }, test: { x, y, size: n } }, loss: 'categoricalCrossentropy', accuracy: true, name: 'mine' }, workers: 2, epochs: 2, batchSize: 8, lr: 0.05, output: out });
    // It started from the model's own weights (written as the run's --init-from)...
    const init = await lib.loadSavedModel(tf, join(out, 'job', 'init'));
    expect(init.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
    // ...and the model in hand now scores what the summary says.
    const acc = tf.tidy(() => tf.metrics.categoricalAccuracy(tf.tensor2d(y, [n, 3]), model.predict(tf.tensor2d(x, [n, 4])) as TF.Tensor).mean().dataSync()[0]);
    expect(acc).toBeCloseTo(r.summary.testAccuracy!, 6);
    expect(r.history['test_acc']).toHaveLength(2);
    expect(new Set(r.summary.replicaChecksums).size).toBe(1);
  });

  it('a Job object travels as a written module; a loss that needs its closure is refused before any worker starts', async () => {
    const job = (await import(pathToFileURL(TINY).href) as { default: import('../../src/index.js').Job }).default;
    const r = await lib.fit({ job: { ...job, name: 'tiny-object' }, workers: 2, epochs: 1, output: join(dir, 'job-object') });
    expect(r.summary).toMatchObject({ job: 'tiny-object', epochs: 1, steps: 6, stopped: false });
    expect(r.summary.jobSpec).toBe(resolve(dir, 'job-object', 'job', 'job.mjs'));
    const scale = 2;
    const out = join(dir, 'closure');
    const e = await refusal(lib.fit({ job: { ...job, loss: (t, a, b) => t.mul(scale, t.mean(t.squaredDifference(a, b), -1)) }, workers: 2, output: out }));
    expect(e.code).toBe('RT_BAD_CONFIG');
    expect(e.message).toMatch(/^fit\(\): job tiny: its loss, sent to the workers as source text, fails there \(scale is not defined\)/);
    expect(existsSync(join(out, 'job'))).toBe(false);
  });
});

describe('bad options', () => {
  it('are one-line RT_BAD_CONFIG errors before anything starts', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ job: 'regression-mlp', epoch: 3 }, /^fit\(\): unknown option "epoch"; the options are /],
      [{ job: 'regression-mlp', epochs: 0 }, /^--epochs must be an integer in \[1, 1000000\] \(got 0\)$/],
      [{ job: 'regression-mlp', workers: -1 }, /^fit\(\): workers must be an integer in \[0, 256\] \(got -1\)$/],
      [{ job: 'regression-mlp', workers: 0 }, /^fit\(\): with workers 0 no worker starts here; give minWorkers/],
      [{ job: 'regression-mlp', callbacks: { onEpochEnd: 5 } }, /^fit\(\): callbacks.onEpochEnd must be a function$/],
      [{ job: 'regression-mlp', callbacks: { onTrainEnd: () => undefined } }, /^fit\(\): unknown callback "onTrainEnd"/],
      [{ job: 'regression-mlp', earlyStopPatience: -1 }, /^--early-stop-patience must be an integer in \[0, 1000000\] \(got -1\)$/],
      [{ job: 'regression-mlp', optimizer: 'adam', momentum: 0.9 }, /momentum/],
      [{ job: 'regression-mlp', logger: 'loud' }, /^fit\(\): logger must be a pino logger or one of /],
      [{ job: 42 }, /^fit\(\): job must be a built-in name, a module path, a Job object or \{ model, data, loss \} \(got 42\)$/],
      [{ job: { model: {}, data: {}, loss: 'meanSquaredError' } }, /^fit\(\): job.model must be a tfjs LayersModel/],
      [{ job: { model: tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1 })] }), data: {}, loss: 'hinge' } }, /^fit\(\): job.loss must be one of meanSquaredError\|/],
    ];
    for (const [options, want] of cases) {
      const out = join(dir, 'bad');
      const e = await refusal(lib.fit({ output: out, ...options } as never));
      expect(e.code, `${JSON.stringify(options)}: ${e.message}`).toBe('RT_BAD_CONFIG');
      expect(e.message).toMatch(want);
      expect(e.message).not.toContain('\n');
      expect(existsSync(out), JSON.stringify(options)).toBe(false);
    }
    const unknownJob = await refusal(lib.fit({ job: 'mnist-mpl', output: join(dir, 'bad') }));
    expect(unknownJob.code).toBe('RT_UNKNOWN_JOB');
  });

  it('coordinatorConfig fills absent settings with the defaults, and trainingConfig adds the job\'s own', async () => {
    expect(lib.coordinatorConfig({ job: 'regression-mlp', epochs: 3 })).toMatchObject({ host: '127.0.0.1', epochs: 3, batchSize: 32, lr: 0.001, seed: 42 });
    expect(await lib.trainingConfig({ job: TINY })).toMatchObject({ epochs: 2, batchSize: 8, lr: 0.01 });
    expect(await lib.trainingConfig({ job: TINY, lr: 0.5 })).toMatchObject({ epochs: 2, lr: 0.5 });
  });
});

describe('README', () => {
  it('shows examples/fit.mjs verbatim, and that example runs', async () => {
    const example = readFileSync('examples/fit.mjs', 'utf8');
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('## Library API'));
    expect(section.slice(section.indexOf('```js\n') + 6, section.indexOf('```\n', section.indexOf('```js\n') + 6))).toBe(example);
    const cwd = join(dir, 'example');
    mkdirSync(cwd);
    const r = await runNode([resolve('examples/fit.mjs')], 'examples/fit.mjs', { cwd });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout).toMatch(/^epoch 0: loss [\d.]+, val_loss [\d.]+\n/);
    expect(r.stdout).toMatch(/\d epochs, \d+ steps on 2 workers; best val_loss [\d.]+; model in runs\/regression-mlp-/);
  });
});
