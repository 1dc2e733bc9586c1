/**
 * Optimizers through the command line: the flags, a config file and a job's defaults choose the
 * update rule; bad values stop before any socket opens; two real workers stay bit-identical under
 * AdamW with warm-up, cosine decay and clipping, and each step's rate is the schedule's.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli, summaryOf, type CliResult } from '../helpers/cli.js';
import { resolveOptimizer } from '../../src/shared/optim/index.js';

const SGD_JOB = fileURLToPath(new URL('../fixtures/sgd-job.mjs', import.meta.url));
const errorLines = (r: CliResult): string[] => r.stderr.split('\n').filter((l) => l.startsWith('ringtrain: error'));

describe('optimizers from the command line', () => {
  it('local --optimizer adamw --weight-decay 0.01 --lr-schedule cosine --warmup-steps 10 --clip-norm 1: equal replica checksums, the schedule per step', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rt-adamw-')), 'run');
    const r = await runCli(['local', '--workers', '2', '--job', 'regression-mlp', '--optimizer', 'adamw', '--weight-decay', '0.01', '--lr-schedule', 'cosine',
      '--warmup-steps', '10', '--clip-norm', '1', '--json', '--log-level', 'warn', '--output', out]);
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const s = summaryOf(r);
    const sums = s['replicaChecksums'] as string[];
    expect(sums).toHaveLength(2);
    expect(sums[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(sums[1]).toBe(sums[0]);
    // 3200 samples, 32 per worker and step, 2 workers, 5 epochs: the cosine spans the 250 planned steps.
    const config = { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01, lrSchedule: 'cosine', warmupSteps: 10, lrDecaySteps: 250 };
    expect(s['optimizer']).toEqual({ name: 'adamw', config, clipNorm: 1 });
    expect(s['steps']).toBe(250);
    expect(s['finalLoss'] as number).toBeLessThan(0.5);
    const opt = resolveOptimizer({ optimizer: 'adamw', ...config });
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; step: number; lr: number }).filter((e) => e.event === 'step');
    expect(steps).toHaveLength(250);
    for (const e of steps) expect(e.lr).toBe(opt.lrAt(e.step));
    expect(steps[0]!.lr).toBeCloseTo(1e-4, 12);
    expect(steps[9]!.lr).toBeCloseTo(1e-3, 12);
    expect(steps[249]!.lr).toBeLessThan(1e-6);
    expect(s['finalLr']).toBe(opt.lrAt(249));
  });

  it("takes a job's optimizer defaults, a config file's keys and the flags, in that order of strength", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-optcfg-'));
    const common = ['local', '--workers', '1', '--job', SGD_JOB, '--json', '--log-level', 'warn'];
    const fromJob = summaryOf(await runCli([...common, '--output', join(dir, 'a')]));
    expect(fromJob['optimizer']).toEqual({
      name: 'sgd', config: { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0, lrSchedule: 'step', warmupSteps: 2, lrStepSize: 3, lrGamma: 0.5 }, clipNorm: 5,
    });
    const file = join(dir, 'cfg.yaml');
    writeFileSync(file, 'optimizer: adamw\nweight-decay: 0.2\nlr-schedule: warmup\nwarmup-steps: 4\n');
    // The file picks another optimizer and schedule: the job's keys for those drop out; the flag beats the job's clipping.
    const fromFile = summaryOf(await runCli([...common, '--config', file, '--clip-norm', '0', '--output', join(dir, 'b')]));
    expect(fromFile['optimizer']).toEqual({
      name: 'adamw', config: { lr: 0.05, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.2, lrSchedule: 'warmup', warmupSteps: 4 }, clipNorm: 0,
    });
  });

  it('refuses bad optimizer settings in one line before anything starts', async () => {
    const cases: [args: string[], message: string][] = [
      [['--optimizer', 'lamb'], 'RT_BAD_CONFIG'],
      [['--momentum', '0.9'], 'RT_BAD_CONFIG: --momentum does not apply to --optimizer adam'],
      [['--optimizer', 'sgd', '--nesterov'], 'RT_BAD_CONFIG: --nesterov needs --momentum > 0'],
      [['--optimizer', 'sgd', '--momentum', '1.5'], 'RT_BAD_CONFIG: --momentum must be a number in [0, 1)'],
      [['--lr-schedule', 'cosine', '--warmup-steps', '10', '--lr-decay-steps', '10'], 'RT_BAD_CONFIG: --lr-decay-steps (10) must exceed --warmup-steps (10)'],
      [['--warmup-steps', '5'], 'RT_BAD_CONFIG: --warmup-steps needs --lr-schedule warmup, cosine or step'],
      [['--clip-norm', '-1'], 'RT_BAD_CONFIG: --clip-norm must be a number ≥ 0'],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['local', '--workers', '2', '--job', 'regression-mlp', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(errorLines(r), args.join(' ')).toEqual([expect.stringContaining(message)]);
      expect(r.stdout).toBe('');
    }
    const env = await runCli(['local', '--workers', '2', '--job', 'regression-mlp'], { env: { RINGTRAIN_OPTIMIZER: 'sgd', RINGTRAIN_LR_GAMMA: '0.5' } });
    expect(errorLines(env)).toEqual([expect.stringContaining('RT_BAD_CONFIG: --lr-step-size and --lr-gamma need --lr-schedule step')]);
  });
});
