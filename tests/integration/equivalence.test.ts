/**
 * Data parallelism must not change the maths: K steps with 3 workers at per-worker batch b equal
 * K steps with 1 worker at batch 3b (same seed, same data, same global batches), up to float
 * rounding. Runs real `ringtrain local` processes and compares the saved weights.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, summaryOf } from '../helpers/cli.js';
import { savedWeights as weights } from '../helpers/weights.js';
import { maxAbsDiff } from '../../src/shared/kernels/flat.js';

const JOB = new URL('../fixtures/tiny-job.mjs', import.meta.url).pathname;

describe('equivalence', () => {
  it('3 workers x batch 8 == 1 worker x batch 24 (max abs diff <= 1e-5)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rt-eq-'));
    const common = ['--job', JOB, '--epochs', '2', '--seed', '7', '--lr', '0.01', '--json', '--checksum-every', '1', '--log-level', 'warn'];
    const [three, one] = await Promise.all([
      runCli(['local', '--workers', '3', '--batch-size', '8', '--output', join(root, 'three'), ...common]),
      runCli(['local', '--workers', '1', '--batch-size', '24', '--output', join(root, 'one'), ...common]),
    ]);
    const s3 = summaryOf(three);
    const s1 = summaryOf(one);
    // 96 samples / global batch 24 = 4 steps per epoch, 2 epochs.
    expect(s3['steps']).toBe(8);
    expect(s1['steps']).toBe(8);
    expect(new Set(s3['replicaChecksums'] as string[]).size).toBe(1);
    const w3 = weights(join(root, 'three'));
    const w1 = weights(join(root, 'one'));
    expect(w3.length).toBe(4 * 8 + 8 + 8 + 1);
    const diff = maxAbsDiff(w3, w1);
    expect(diff).toBeLessThanOrEqual(1e-5);
    // Same training loss on both sides: the global batches really were the same samples.
    expect(Math.abs((s3['finalLoss'] as number) - (s1['finalLoss'] as number))).toBeLessThan(1e-5);
  });
});
