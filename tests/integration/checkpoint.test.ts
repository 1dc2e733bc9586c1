/**
 * Checkpoints: atomic under a kill at any instant, refused for another configuration, and exact:
 * a run resumed from a checkpoint ends with the same weights as one that never stopped.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { readFileSync } from 'node:fs';
import { CHECKPOINT_FILE, loadCheckpoint, unframeCheckpoint } from '../../src/coordinator/checkpoint.js';
import { runCli, summaryOf } from '../helpers/cli.js';
import { savedWeights as weights } from '../helpers/weights.js';
import { maxAbsDiff } from '../../src/shared/kernels/flat.js';

const WRITER = new URL('../fixtures/checkpoint-writer.mjs', import.meta.url).pathname;

describe('checkpoints', () => {
  it('a process killed while writing leaves the previous checkpoint loadable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-ck-'));
    let kills = 0;
    let lastSeen = 0;
    for (let round = 0; round < 6; round++) {
      const child = spawn(process.execPath, [WRITER, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      // Let it finish at least one checkpoint, then kill it at a varying point of the next one.
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (/wrote \d+/.test(out)) {
            clearInterval(poll);
            setTimeout(resolve, 20 + round * 37);
          }
        }, 5);
      });
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
      kills++;
      const ck = await loadCheckpoint(dir, 'fp');
      const written = [...out.matchAll(/wrote (\d+)/g)].map((m) => Number(m[1]));
      const newest = Math.max(...written);
      // Either the last completed checkpoint or (if the kill came after the rename) a newer one.
      expect(ck.state.step).toBeGreaterThanOrEqual(newest);
      expect(ck.state.step).toBeLessThanOrEqual(newest + 1);
      expect(ck.state.params[0]).toBe(ck.state.step);
      expect(ck.state.params[ck.state.params.length - 1]).toBe(ck.state.step);
      lastSeen = ck.state.step;
    }
    expect(kills).toBe(6);
    expect(lastSeen).toBeGreaterThan(0);
    // Temporary files of killed writers may remain; the checkpoint itself is never one of them.
    expect(readdirSync(dir)).toContain('checkpoint.bin');
  });

  it('resuming with no fault gives the same weights as a run that never stopped; another config is refused', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rt-resume-'));
    const common = ['--job', 'regression-mlp', '--workers', '2', '--seed', '3', '--json', '--log-level', 'warn'];
    const [whole, part] = await Promise.all([
      runCli(['local', ...common, '--epochs', '2', '--output', join(root, 'whole')]),
      runCli(['local', ...common, '--epochs', '1', '--output', join(root, 'part')]),
    ]);
    const sWhole = summaryOf(whole);
    expect(summaryOf(part)['steps']).toBe(50);
    const resumed = summaryOf(await runCli(['local', ...common, '--epochs', '2', '--resume', join(root, 'part')]));
    expect(resumed['resumedFromStep']).toBe(50);
    expect(resumed['steps']).toBe(sWhole['steps']);
    expect(resumed['replicaChecksums']).toEqual(sWhole['replicaChecksums']);
    expect(maxAbsDiff(weights(join(root, 'part')), weights(join(root, 'whole')))).toBeLessThanOrEqual(1e-6);

    const other = await runCli(['local', ...common, '--epochs', '2', '--lr', '0.01', '--resume', join(root, 'part')]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/ringtrain: error RT_CHECKPOINT_MISMATCH: checkpoint .* was written for a different job configuration/);
  });

  it('a checkpoint written under AdamW with warm-up, cosine and clipping resumes bit-identically; another optimizer is refused', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rt-resume-adamw-'));
    // An explicit decay length: the default follows --epochs, which differs between the two runs.
    const base = ['--job', 'regression-mlp', '--workers', '2', '--seed', '5', '--json', '--log-level', 'warn',
      '--lr', '0.003', '--lr-schedule', 'cosine', '--warmup-steps', '10', '--lr-decay-steps', '100', '--clip-norm', '0.5'];
    const common = [...base, '--optimizer', 'adamw', '--weight-decay', '0.05'];
    const [whole, part] = await Promise.all([
      runCli(['local', ...common, '--epochs', '2', '--output', join(root, 'whole')]),
      runCli(['local', ...common, '--epochs', '1', '--output', join(root, 'part')]),
    ]);
    const sWhole = summaryOf(whole);
    expect(summaryOf(part)['steps']).toBe(50);
    const ck = new Packr({ useRecords: false, moreTypes: true }).unpack(unframeCheckpoint(readFileSync(join(root, 'part', CHECKPOINT_FILE)), 'part')) as { state: { optim: { optimizer: string; slots: object; scalars: Record<string, number> } } };
    expect(ck.state.optim.optimizer).toBe('adamw');
    expect(Object.keys(ck.state.optim.slots).sort()).toEqual(['m', 'v']);
    expect(ck.state.optim.scalars['t']).toBe(50);
    const resumed = summaryOf(await runCli(['local', ...common, '--epochs', '2', '--resume', join(root, 'part')]));
    expect(resumed['resumedFromStep']).toBe(50);
    expect(resumed['steps']).toBe(100);
    expect(resumed['replicaChecksums']).toEqual(sWhole['replicaChecksums']);
    const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    expect(bytes(weights(join(root, 'part'))).equals(bytes(weights(join(root, 'whole'))))).toBe(true);

    const sgd = await runCli(['local', ...base, '--optimizer', 'sgd', '--momentum', '0.9', '--epochs', '2', '--resume', join(root, 'part')]);
    expect(sgd.code).toBe(2);
    expect(sgd.stderr).toMatch(/ringtrain: error RT_CHECKPOINT_MISMATCH: .*--optimizer/);
    const otherDecay = await runCli(['local', ...base, '--optimizer', 'adamw', '--weight-decay', '0.01', '--epochs', '2', '--resume', join(root, 'part')]);
    expect(otherDecay.code).toBe(2);
    expect(otherDecay.stderr).toMatch(/RT_CHECKPOINT_MISMATCH/);
  });
});
