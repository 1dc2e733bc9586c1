/**
 * --init-from DIR: a run starts from a saved model's weights (fresh optimizer state, step 0), and
 * a saved model whose weights do not fit the job's model is refused, naming the first difference,
 * before any worker joins. With a learning rate of 1e-12 the weights barely move, so the run's test
 * loss must equal the saved model's own (ringtrain eval), and differ from a fresh start's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, summaryOf } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-initfrom-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const TINY_JOB = new URL('../fixtures/tiny-job.mjs', import.meta.url).pathname;
const local = (args: string[]) => runCli(['local', '--workers', '2', '--job', TINY_JOB, '--seed', '42', '--json', '--no-http', ...args]);

describe('--init-from', () => {
  it('starts from the saved weights with a fresh optimizer, and refuses a model of another shape', async () => {
    const saved = join(dir, 'first');
    summaryOf(await local(['--epochs', '3', '--lr', '0.05', '--output', saved]));
    const ev = await runCli(['eval', '--model', saved, '--job', TINY_JOB, '--seed', '42', '--json']);
    const savedLoss = (JSON.parse(ev.stdout) as { loss: number }).loss;

    const [tuned, fresh, wrong, missing] = await Promise.all([
      local(['--epochs', '1', '--lr', '1e-12', '--init-from', saved, '--output', join(dir, 'tuned'), '--log-level', 'info']),
      local(['--epochs', '1', '--lr', '1e-12', '--output', join(dir, 'fresh')]),
      runCli(['local', '--workers', '2', '--job', 'regression-mlp', '--epochs', '1', '--no-http', '--log-level', 'info', '--init-from', saved]),
      local(['--epochs', '1', '--init-from', join(dir, 'nowhere')]),
    ]);
    const t = summaryOf(tuned);
    // 96 samples, batch 8 per worker, 2 workers: 6 steps from step 0, not a resumed run.
    expect(t).toMatchObject({ steps: 6, resumedFromStep: null, samplesPerEpoch: [96] });
    expect(tuned.stderr).toMatch(/"msg":"starting from saved weights"/);
    expect(t['testLoss'] as number).toBeCloseTo(savedLoss, 5);
    expect(Math.abs((summaryOf(fresh)['testLoss'] as number) - savedLoss)).toBeGreaterThan(1e-3);

    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/error RT_MODEL_MISMATCH: --init-from .*first does not fit job regression-mlp's model: weight 0 is \S+ \[4,8\] there, \S+ \[\d+,\d+\] in the job's model/);
    expect(wrong.stderr).not.toMatch(/"msg":"worker joined"/);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/error RT_BAD_CONFIG: cannot read .*nowhere\/model\.json: ENOENT/);
  });
});
