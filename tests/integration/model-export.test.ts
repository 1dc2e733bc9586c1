/**
 * The exported model: the final and best-epoch folders load with tf.loadLayersModel through the
 * file IO handler, hold exactly the weights the replicas trained (same checksum as every rank
 * reported), predict what the coordinator's own evaluation measured, and `ringtrain eval` agrees.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { runCli, summaryOf } from '../helpers/cli.js';
import { loadSavedModel } from '../../src/jobs/saved-model.js';
import { Trainer } from '../../src/shared/engine/trainer.js';
import { regressionMlp } from '../../src/jobs/regression-mlp.js';
import { evaluate } from '../../src/jobs/evaluate.js';
import { checksum } from '../../src/shared/kernels/flat.js';

describe('model export', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rt-export-'));
  const out = join(dir, 'run');
  let summary: Record<string, unknown>;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    summary = summaryOf(await runCli(['local', '--workers', '2', '--job', 'regression-mlp', '--epochs', '3', '--json', '--no-http', '--output', out], { timeoutMs: 60_000 }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads with tf.loadLayersModel and holds the replicas\' final weights', async () => {
    const model = await loadSavedModel(tf, out);
    const flat = new Trainer(tf, regressionMlp, model).getWeights();
    const ranks = summary['replicaChecksums'] as string[];
    expect(ranks).toHaveLength(2);
    expect(checksum(flat)).toBe(ranks[0]);
    expect(checksum(flat)).toBe(ranks[1]);
    // Same predictions as the trained replicas: the coordinator's test loss on those weights.
    const data = regressionMlp.loadData(42);
    const r = evaluate(tf, regressionMlp, model, (await data).test);
    expect(r.loss).toBeCloseTo(summary['testLoss'] as number, 6);
    model.dispose();
  });

  it('keeps the best validation epoch in best/ and ringtrain eval scores both', async () => {
    const best = JSON.parse(readFileSync(join(out, 'best', 'best.json'), 'utf8')) as { epoch: number; metric: string; value: number; testLoss: number };
    expect(best.metric).toBe('valLoss');
    expect(best.epoch).toBeGreaterThanOrEqual(1);
    expect(best.epoch).toBeLessThanOrEqual(3);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; epoch?: number; valLoss?: number });
    const epochs = lines.filter((l) => l.event === 'epoch');
    expect(epochs).toHaveLength(3);
    expect(lines.filter((l) => l.event === 'step')).toHaveLength(summary['steps'] as number);
    expect(best.value).toBe(Math.min(...epochs.map((e) => e.valLoss!)));

    const finalEval = await runCli(['eval', '--model', out, '--job', 'regression-mlp', '--json', '--log-level', 'warn'], { timeoutMs: 30_000 });
    expect(finalEval.code).toBe(0);
    expect(JSON.parse(finalEval.stdout)).toMatchObject({ event: 'eval', job: 'regression-mlp', samples: 400, loss: summary['testLoss'] });
    const bestEval = await runCli(['eval', '--model', join(out, 'best'), '--job', 'regression-mlp', '--json', '--log-level', 'warn'], { timeoutMs: 30_000 });
    expect(JSON.parse(bestEval.stdout)).toMatchObject({ loss: best.testLoss });
  });

  it('eval refuses a missing folder or a model of another job with one line', async () => {
    const missing = await runCli(['eval', '--model', join(dir, 'nope'), '--job', 'regression-mlp'], { timeoutMs: 30_000 });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('RT_BAD_CONFIG');
    const wrong = await runCli(['eval', '--model', out, '--job', 'mnist-mlp', '--log-level', 'warn'], { timeoutMs: 30_000 });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/RT_MODEL_MISMATCH: the model in \S+ does not fit job mnist-mlp: input "x": the model's input 0 has shape \[10\], the job declares \[784\]/);
  });
});
