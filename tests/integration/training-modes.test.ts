/**
 * The performance modes end to end (real processes, port 0): `--accumulate K` trains like one
 * K-times bigger batch, `--compress fp16` keeps replicas bit-identical and learns about as well,
 * and the summary reports how much communication was hidden.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

interface Summary {
  finalLoss: number;
  testLoss: number;
  steps: number;
  replicaChecksums: string[];
  comm: { allreduceMs: number; exposedMs: number; hiddenPct: number };
}

async function train(extra: string[]): Promise<Summary> {
  const out = mkdtempSync(join(tmpdir(), 'ringtrain-modes-'));
  const r = await runCli(['local', '--workers', '2', '--job', 'regression-mlp', '--epochs', '2', '--seed', '5', '--json', '--output', out, '--log-level', 'warn', ...extra]);
  expect(r.code, r.stderr.slice(-2000)).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Summary;
}

describe('training modes', () => {
  it('--accumulate 4 with batch 8 equals batch 32 within float tolerance', async () => {
    const [big, acc] = await Promise.all([train(['--batch-size', '32']), train(['--batch-size', '8', '--accumulate', '4'])]);
    expect(acc.steps).toBe(big.steps);
    expect(Math.abs(acc.finalLoss - big.finalLoss)).toBeLessThanOrEqual(1e-4 * Math.abs(big.finalLoss));
    expect(Math.abs(acc.testLoss - big.testLoss)).toBeLessThanOrEqual(1e-4 * Math.abs(big.testLoss));
    expect(new Set(acc.replicaChecksums).size).toBe(1);
  });

  it('--compress fp16 keeps replicas identical, learns like float32, and reports communication', async () => {
    const [f32, f16] = await Promise.all([train([]), train(['--compress', 'fp16'])]);
    expect(new Set(f16.replicaChecksums).size).toBe(1);
    expect(f16.replicaChecksums[0]).not.toBe(f32.replicaChecksums[0]);
    expect(Math.abs(f16.testLoss - f32.testLoss)).toBeLessThanOrEqual(0.05 * f32.testLoss);
    for (const s of [f32, f16]) {
      expect(s.comm.allreduceMs).toBeGreaterThan(0);
      expect(s.comm.hiddenPct).toBeGreaterThanOrEqual(0);
      expect(s.comm.hiddenPct).toBeLessThanOrEqual(100);
    }
  });
});
