/**
 * Runs record themselves: summary.json and every saved model's metadata hold the job, seed and
 * hyper-parameters; `ringtrain eval` takes job and seed from the model and refuses a seed whose
 * test split would overlap training; best/ is chosen on validation only; a folder holding a
 * previous run is refused unless --overwrite.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, summaryOf } from '../helpers/cli.js';
import { evalSettings, type RunRecord } from '../../src/jobs/run-record.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-record-'));
const out = join(dir, 'reg');
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
const argsFor = (epochs: number): string[] => ['local', '--workers', '2', '--job', 'regression-mlp', '--epochs', String(epochs), '--seed', '7', '--batch-size', '16', '--lr', '0.003', '--json', '--no-http', '--log-level', 'warn'];
const args = argsFor(2);

function metadata(folder: string): RunRecord {
  return (JSON.parse(readFileSync(join(folder, 'model.json'), 'utf8')) as { userDefinedMetadata: { ringtrain: RunRecord } }).userDefinedMetadata.ringtrain;
}

describe('runs that record themselves', () => {
  let summary: Record<string, unknown>;
  beforeAll(async () => {
    summary = summaryOf(await runCli([...args, '--output', out]));
  });

  it('summary.json and model.json hold job, seed, hyper-parameters, workers, engines and version', () => {
    const onDisk = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Record<string, unknown>;
    expect(onDisk).toMatchObject({ job: 'regression-mlp', jobSpec: 'regression-mlp', seed: 7, epochs: 2, batchSize: 16, accumulate: 1, lr: 0.003, workers: 2, version: pkg.version });
    expect(onDisk['engines']).toEqual(['wasm', 'wasm']);
    expect(metadata(out)).toEqual({
      job: 'regression-mlp', jobSpec: 'regression-mlp', seed: 7, epochs: 2, batchSize: 16, accumulate: 1, lr: 0.003, compress: 'none',
      workers: 2, engines: ['wasm', 'wasm'], step: summary['steps'], version: pkg.version,
    });
    // best/ (chosen on validation) records the same run, at its own step.
    const best = JSON.parse(readFileSync(join(out, 'best', 'best.json'), 'utf8')) as { step: number; metric: string };
    expect(best.metric).toBe('valLoss');
    expect(metadata(join(out, 'best'))).toMatchObject({ job: 'regression-mlp', seed: 7, lr: 0.003, step: best.step });
  });

  it('eval takes job and seed from the model, and refuses a seed that would overlap training', async () => {
    const r = await runCli(['eval', '--model', out, '--json', '--log-level', 'warn']);
    expect(r.code, r.stderr.slice(-1500)).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ event: 'eval', job: 'regression-mlp', seed: 7, loss: summary['testLoss'] });
    const wrong = await runCli(['eval', '--model', out, '--seed', '42']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/RT_BAD_CONFIG: --seed 42 differs from the seed this model was trained with \(7\): its test split would overlap the training data/);
    expect(wrong.stdout).toBe('');
  });

  it('refuses a folder holding a previous run unless --overwrite, which starts it afresh', async () => {
    const again = await runCli([...args, '--output', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(new RegExp(`RT_BAD_CONFIG: --output ${out} holds a previous run \\(summary\\.json, model\\.json.*\\); pass --overwrite`));
    expect(again.stderr).not.toMatch(/coordinator listening/);
    const over = summaryOf(await runCli([...argsFor(1), '--output', out, '--overwrite']));
    expect(over['epochs']).toBe(1);
    const starts = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').filter((l) => (JSON.parse(l) as { event: string }).event === 'start');
    expect(starts).toHaveLength(1);
  });

  it('keeps no best/ for a job without a validation split, and says so once', async () => {
    const tiny = join(dir, 'tiny');
    const r = await runCli(['local', '--workers', '1', '--job', resolve('tests/fixtures/tiny-job.mjs'), '--epochs', '3', '--output', tiny, '--json', '--no-http', '--log-level', 'info']);
    expect(r.code, r.stderr.slice(-1500)).toBe(0);
    expect(existsSync(join(tiny, 'best'))).toBe(false);
    expect(r.stderr.match(/no validation split: best\/ is not kept/g)).toHaveLength(1);
    expect(metadata(tiny).jobSpec).toBe(resolve('tests/fixtures/tiny-job.mjs'));
  });
});

describe('eval settings', () => {
  const rec = { job: 'j', jobSpec: '/abs/j.mjs', seed: 3 } as RunRecord;
  it('defaults to the record, keeps flags that agree, and needs --job without a record', () => {
    expect(evalSettings(rec, undefined, undefined, 42)).toEqual({ jobSpec: '/abs/j.mjs', seed: 3 });
    expect(evalSettings(rec, 'other', 3, 42)).toEqual({ jobSpec: 'other', seed: 3 });
    expect(evalSettings(null, 'mnist-mlp', undefined, 42)).toEqual({ jobSpec: 'mnist-mlp', seed: 42 });
    expect(() => evalSettings(null, undefined, 5, 42)).toThrow(/records no job/);
    expect(() => evalSettings(rec, undefined, 4, 42)).toThrow(/--seed 4 differs/);
  });
});
