/**
 * The v2 job API as a user runs it, through the CLI with two workers and one epoch (seed 42):
 * integer labels with sparse cross-entropy train exactly the weights the one-hot form (the v1
 * job mnist-mlp) trains; a model with two inputs and two outputs trains with equal replicas,
 * whether its batches travel as indices, as streamed rows (every named tensor, int32 ones too)
 * or come from a packed file; `ringtrain eval` reports each output's loss and accuracy.
 * Accuracy floors sit below what these runs measure (mnist-int and mnist-mlp 0.902, mnist-multi
 * digit 0.904 and parity 0.922 after one epoch).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, summaryOf } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-v2-'));

async function train(job: string, name: string, extra: string[] = []): Promise<Record<string, unknown>> {
  const r = await runCli(['local', '--workers', '2', '--job', job, '--epochs', '1', '--seed', '42', '--json', '--output', join(dir, name), '--log-level', 'warn', ...extra], { timeoutMs: 240_000 });
  const s = summaryOf(r);
  process.stdout.write(`${JSON.stringify({ event: 'job-v2', run: name, testLoss: s['testLoss'], testAccuracy: s['testAccuracy'], finalLoss: s['finalLoss'], samplesPerSec: s['samplesPerSec'] })}\n`);
  return s;
}

function agreedChecksum(s: Record<string, unknown>): string {
  const sums = s['replicaChecksums'] as string[];
  expect(sums).toHaveLength(2);
  expect(sums[0]).toMatch(/^[0-9a-f]{16}$/);
  expect(new Set(sums).size).toBe(1);
  expect(s['samplesPerEpoch']).toEqual([8000]);
  return sums[0]!;
}

describe('job API v2 through the CLI (2 workers, 1 epoch)', () => {
  it('int32 labels with sparse cross-entropy train the same weights as one-hot targets', async () => {
    const [int, hot] = await Promise.all([train('mnist-int', 'int'), train('mnist-mlp', 'hot')]);
    expect(agreedChecksum(int)).toBe(agreedChecksum(hot));
    expect(int['testAccuracy']).toBe(hot['testAccuracy']);
    expect(int['testAccuracy']).toBeGreaterThanOrEqual(0.88);
  });

  it('a two-input, two-output model trains with equal replicas from indices, streamed rows and a packed file', async () => {
    const pack = join(dir, 'multi.rtpack');
    const packed = await runCli(['data', 'pack', '--job', 'mnist-multi', '--split', 'train', '--seed', '42', '--out', pack]);
    expect(packed.code, packed.stderr.slice(-2000)).toBe(0);
    expect(packed.stdout).toMatch(/"rows":8000/);
    const [indexed, streamed, fromFile] = await Promise.all([
      train('mnist-multi', 'multi'),
      train('mnist-multi', 'multi-stream', ['--data', 'stream']),
      train('mnist-multi', 'multi-file', ['--data-file', pack]),
    ]);
    const sum = agreedChecksum(indexed);
    // Bit-identical whichever way the rows reach the workers.
    expect(agreedChecksum(streamed)).toBe(sum);
    expect(agreedChecksum(fromFile)).toBe(sum);
    expect(indexed['testAccuracy']).toBeGreaterThanOrEqual(0.88);
    // Loss falls: the last steps' loss is far below a 10-class guess plus a 2-class one (ln 10 + ln 2 / 2).
    expect(indexed['finalLoss']).toBeLessThan(0.5 * (Math.log(10) + 0.5 * Math.log(2)));

    const ev = await runCli(['eval', '--model', join(dir, 'multi'), '--json']);
    expect(ev.code, ev.stderr.slice(-2000)).toBe(0);
    const e = JSON.parse(ev.stdout.trim()) as { loss: number; accuracy: number; outputs: Record<string, { loss: number; accuracy: number }> };
    process.stdout.write(`${JSON.stringify({ event: 'job-v2-eval', job: 'mnist-multi', loss: e.loss, outputs: e.outputs })}\n`);
    expect(Object.keys(e.outputs)).toEqual(['digit', 'parity']);
    expect(e.accuracy).toBe(indexed['testAccuracy']);
    expect(e.outputs['digit']!.accuracy).toBe(e.accuracy);
    expect(e.outputs['parity']!.accuracy).toBeGreaterThanOrEqual(0.88);
    // The trained loss is the weighted sum of the outputs' (parity weighs 0.5).
    expect(e.loss).toBeCloseTo(e.outputs['digit']!.loss + 0.5 * e.outputs['parity']!.loss, 4);
    const text = await runCli(['eval', '--model', join(dir, 'multi')]);
    expect(text.stdout).toMatch(/; digit: loss [\d.]+, accuracy [\d.]+%; parity: loss [\d.]+, accuracy [\d.]+%/);
  });
});
