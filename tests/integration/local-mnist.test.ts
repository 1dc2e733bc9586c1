/**
 * The product's main path, as a user runs it: `ringtrain local --workers 4 --job mnist-mlp` as a
 * child process, read back through its --json summary.
 * Settings: 2 epochs, per-worker batch 32 (global 128), lr 1e-3, seed 42 -> 126 steps.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, summaryOf } from '../helpers/cli.js';

describe('ringtrain local (mnist-mlp, 4 workers)', () => {
  it('trains to >= 0.85 test accuracy with identical replicas and every sample once per epoch', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rt-mnist-')), 'run');
    const t0 = performance.now();
    const r = await runCli(['local', '--workers', '4', '--job', 'mnist-mlp', '--epochs', '2', '--batch-size', '32', '--lr', '0.001', '--seed', '42', '--json', '--output', out, '--log-level', 'warn']);
    const elapsed = (performance.now() - t0) / 1000;
    const s = summaryOf(r);
    expect(s).toMatchObject({ event: 'summary', workers: 4, epochs: 2, steps: 126 });
    const sums = s['replicaChecksums'] as string[];
    expect(sums).toHaveLength(4);
    expect(sums[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(sums).size).toBe(1);
    expect(s['testAccuracy']).toBeGreaterThanOrEqual(0.85);
    expect(s['samplesPerEpoch']).toEqual([8000, 8000]);
    expect(s['finalLoss']).toBeLessThan(1);
    expect(typeof s['samplesPerSec']).toBe('number');
    expect(typeof s['wallSeconds']).toBe('number');
    // The first step came after start-up and before the command ended.
    expect(s['firstStepSeconds']).toBeGreaterThan(0);
    expect(s['firstStepSeconds']).toBeLessThan(elapsed);
    // The trained model and the summary are on disk.
    expect(existsSync(join(out, 'model.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'))).toEqual(s);
  });
});
