/**
 * Jobs are checked before training: each broken job module, v1 or v2 (written here as a user
 * would), makes `ringtrain local` exit 2 with one RT_JOB_INVALID line naming what differs, before
 * any worker process starts; a worker started without the --job a module job needs is refused alone and the
 * run goes on with a worker that has it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startCli, summaryOf } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-jobs-'));

/** Writes a job module whose model, data or size is replaced by the given JS snippets. */
function job(name: string, parts: { model?: string; train?: string; loss?: string }): string {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(file, `
function data(n) {
  const x = new Float32Array(n * 4), y = new Float32Array(n);
  for (let i = 0; i < n; i++) { for (let f = 0; f < 4; f++) x[i * 4 + f] = ((i * 7 + f * 3) % 11) / 11; y[i] = x[i * 4]; }
  return { x, y, size: n };
}
export default {
  name: '${name}', inputShape: [4], outputSize: 1,
  createModel: (tf) => ${parts.model ?? "tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 1 })] })"},
  loadData: () => { const d = data(64); return { train: ${parts.train ?? 'd'}, test: data(16) }; },
  loss: ${parts.loss ?? '(tf, t, p) => tf.mean(tf.squaredDifference(t, p), -1)'},
};
`);
  return file;
}

/** Writes a v2 job module (an image-like input and 3 features in, an int32 class id out) with parts replaced. */
function jobV2(name: string, parts: { model?: string; label?: string; inputs?: string }): string {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(file, `
function data(n) {
  const grid = new Float32Array(n * 4), extra = new Float32Array(n * 3), label = new Int32Array(n);
  for (let i = 0; i < n; i++) { grid.fill((i % 5) / 5, i * 4, i * 4 + 4); extra.fill((i % 3) / 3, i * 3, i * 3 + 3); label[i] = ${parts.label ?? 'i % 3'}; }
  return { size: n, tensors: { grid, extra, label } };
}
export default {
  name: '${name}',
  inputs: ${parts.inputs ?? "[{ name: 'grid', shape: [2, 2] }, { name: 'extra', shape: [3] }]"},
  outputs: [{ name: 'label', shape: [], dtype: 'int32', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] }],
  createModel: (tf) => { const a = tf.input({ shape: [2, 2] }), b = tf.input({ shape: [${parts.model ?? '3'}] });
    return tf.model({ inputs: [a, b], outputs: tf.layers.dense({ units: 3 }).apply(tf.layers.concatenate().apply([tf.layers.flatten().apply(a), b])) }); },
  loadData: ({ seed, rank, worldSize }) => ({ train: data(64), test: data(16) }),
};
`);
  return file;
}

describe('jobs checked before training', () => {
  it('refuses each broken job with RT_JOB_INVALID naming the difference, before any worker starts', async () => {
    const cases: [string, { model?: string; train?: string }, RegExp][] = [
      ['two-inputs', { model: "(() => { const a = tf.input({ shape: [2] }), b = tf.input({ shape: [2] }); return tf.model({ inputs: [a, b], outputs: tf.layers.dense({ units: 1 }).apply(tf.layers.concatenate().apply([a, b])) }); })()" }, /the model has 2 inputs; the job declares 1 \(x \[4\]\)/],
      ['plain-x', { train: '{ ...d, x: Array.from(d.x) }' }, /train\.x is a plain Array; it must be a Float32Array/],
      ['float64-y', { train: '{ ...d, y: Float64Array.from(d.y) }' }, /train\.y is a Float64Array/],
      ['wrong-size', { train: '{ ...d, size: 60 }' }, /train\.x holds 256 values, but train\.size 60 × 4 values per row \[4\] = 240/],
      ['wrong-input', { model: "tf.sequential({ layers: [tf.layers.dense({ inputShape: [5], units: 1 })] })" }, /input "x": the model's input 0 has shape \[5\], the job declares \[4\]/],
    ];
    const results = await Promise.all(cases.map(([name, parts]) => runCli(['local', '--workers', '2', '--job', job(name, parts), '--output', join(dir, `out-${name}`), '--log-level', 'info'])));
    for (const [i, [name, , message]] of cases.entries()) {
      const r = results[i]!;
      expect(r.code, `${name}: ${r.stderr.slice(-1500)}`).toBe(2);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('ringtrain: error'));
      expect(errors, name).toEqual([expect.stringMatching(new RegExp(`RT_JOB_INVALID: job ${name}: ${message.source}`))]);
      // Refused before the coordinator listened, so no worker process was ever started.
      expect(r.stderr, name).not.toMatch(/coordinator listening|worker joined/);
    }
  });

  it('refuses each broken v2 job the same way, and trains a sound one', async () => {
    const cases: [string, Parameters<typeof jobV2>[1], RegExp][] = [
      ['v2-input', { model: '4' }, /input "extra": the model's input 1 has shape \[4\], the job declares \[3\]/],
      ['v2-label', { label: 'i === 40 ? 7 : i % 3' }, /train\.label\[40\] is 7; class ids must lie in \[0, 3\) \(the model's output has 3 classes\)/],
      ['v2-dtype', { inputs: "[{ name: 'grid', shape: [2, 2], dtype: 'int32' }, { name: 'extra', shape: [3] }]" }, /train\.grid is a Float32Array; it must be an Int32Array/],
    ];
    const [good, ...results] = await Promise.all([
      runCli(['local', '--workers', '2', '--job', jobV2('v2-good', {}), '--epochs', '1', '--json', '--output', join(dir, 'out-v2-good')]),
      ...cases.map(([name, parts]) => runCli(['local', '--workers', '2', '--job', jobV2(name, parts), '--output', join(dir, `out-${name}`), '--log-level', 'info'])),
    ]);
    for (const [i, [name, , message]] of cases.entries()) {
      const r = results[i]!;
      expect(r.code, `${name}: ${r.stderr.slice(-1500)}`).toBe(2);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('ringtrain: error'));
      expect(errors, name).toEqual([expect.stringMatching(new RegExp(`RT_JOB_INVALID: job ${name}: ${message.source}`))]);
      expect(r.stderr, name).not.toMatch(/coordinator listening|worker joined/);
    }
    const s = summaryOf(good);
    expect(s['steps']).toBeGreaterThan(0);
    expect(new Set(s['replicaChecksums'] as string[]).size).toBe(1);
  });

  it('an unexpected error (RT_INTERNAL) prints its stack at debug level only', async () => {
    const file = job('broken-loss', { loss: '(tf, t, p) => t.noSuchMethod(p)' });
    const quiet = await runCli(['local', '--workers', '1', '--job', file, '--output', join(dir, 'out-bl1')]);
    expect(quiet.code).toBe(1);
    expect(quiet.stderr).toMatch(/ringtrain: error RT_INTERNAL: t\.noSuchMethod is not a function/);
    expect(quiet.stderr).not.toMatch(/at (Object\.)?loss \(/);
    const loud = await runCli(['local', '--workers', '1', '--job', file, '--output', join(dir, 'out-bl2'), '--log-level', 'debug']);
    expect(loud.code).toBe(1);
    expect(loud.stderr).toMatch(/TypeError: t\.noSuchMethod is not a function\n\s+at (Object\.)?loss \(file:\/\/.*broken-loss\.mjs/);
  });

  it('a worker without --job for a module job is refused alone; the run goes on', async () => {
    const file = resolve('tests/fixtures/tiny-job.mjs');
    const coord = startCli(['coordinator', '--port', '0', '--http-port', '-1', '--job', file, '--min-workers', '1', '--json', '--output', join(dir, 'out-alone'), '--rendezvous-grace', '0']);
    try {
      const port = (await coord.waitFor(/"port":(\d+)[^\n]*coordinator listening/))[1]!;
      const url = `ws://127.0.0.1:${port}`;
      const bare = await runCli(['worker', '--coordinator', url, '--ring-host', '127.0.0.1']);
      expect(bare.code).toBe(1);
      expect(bare.stderr).toMatch(/ringtrain: error RT_JOB_REQUIRED: .*start this worker with --job/);
      expect(coord.stderr()).toMatch(/worker refused: started without --job/);
      const good = await runCli(['worker', '--coordinator', url, '--ring-host', '127.0.0.1', '--job', file]);
      expect(good.code, good.stderr.slice(-1500)).toBe(0);
      expect(await coord.exited).toEqual({ code: 0, signal: null });
      const summary = summaryOf({ code: 0, signal: null, stdout: coord.stdout(), stderr: coord.stderr() });
      expect(summary['workers']).toBe(1);
      expect(summary['steps']).toBeGreaterThan(0);
    } finally {
      coord.child.kill('SIGKILL');
    }
  });
});
