/**
 * The native TensorFlow engine (tfjs-node's binding built from the pip wheel by
 * tests/setup/tensorflow.ts): it computes the same gradients as the pure-JS cpu engine (also for
 * int32 labels and a model with two inputs and outputs), trains a convolutional model, is listed
 * by `ringtrain engines`, and the C functions the installer checks wheels for are exactly those
 * the built binding imports. Without the engine these tests fail
 * with the setup's message saying how to get it; they never skip.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectEngine } from '../../src/shared/engine/backend.js';
import { Trainer } from '../../src/shared/engine/trainer.js';
import { BUILTIN_JOBS } from '../../src/jobs/registry.js';
import { specOf } from '../../src/shared/job/spec.js';
import { gatherRows } from '../../src/shared/data/dataset.js';
import { bindingImports, REQUIRED_SYMBOLS } from '../../src/shared/engine/native/build.js';
import { installedEngine } from '../../src/shared/engine/native/locate.js';
import { runCli } from '../helpers/cli.js';
import { runEngine } from '../helpers/engines.js';
import { requireTensorflow } from '../helpers/tensorflow.js';

const silent = pino({ level: 'silent' });
let tfVersion = '';
beforeAll(() => {
  tfVersion = requireTensorflow();
});

/** Mean gradient of `count` training samples from `first`, on the named engine, at weights `w`. */
async function meanGradient(engineName: 'tensorflow' | 'cpu', job: string, w: Float32Array | null, first: number, count: number): Promise<{ grads: Float32Array; weights: Float32Array; engine: string }> {
  const engine = await selectEngine(engineName, silent);
  const j = BUILTIN_JOBS[job]!;
  const trainer = Trainer.create(engine.tf, j, 3);
  try {
    // The same weights on both engines: initialisers draw on each engine's own random kernels.
    if (w) trainer.setWeights(w);
    const spec = specOf(j);
    const data = (await spec.loadData({ seed: 3, rank: null, worldSize: null })).train;
    const out = new Float32Array(trainer.paramCount);
    await trainer.computeGradientsOf(gatherRows(data, spec.tensors, Uint32Array.from({ length: count }, (_, i) => first + i)), count, out);
    return { grads: out.map((g) => g / count), weights: trainer.getWeights(), engine: engine.tf.getBackend() };
  } finally {
    trainer.dispose();
  }
}

describe('tensorflow engine', () => {
  it.each([['mnist-mlp', 64], ['mnist-cnn', 16], ['mnist-int', 64], ['mnist-multi', 64]] as const)('%s gradients on tensorflow equal cpu within 1e-5', async (job, batch) => {
    const cpu = await meanGradient('cpu', job, null, 40, batch);
    const native = await meanGradient('tensorflow', job, cpu.weights, 40, batch);
    expect([cpu.engine, native.engine]).toEqual(['cpu', 'tensorflow']);
    let worst = 0;
    for (let i = 0; i < cpu.grads.length; i++) worst = Math.max(worst, Math.abs(cpu.grads[i]! - native.grads[i]!));
    expect(worst).toBeLessThanOrEqual(1e-5);
    // Not vacuous: the gradients are far from zero.
    expect(Math.max(...cpu.grads.map(Math.abs))).toBeGreaterThan(1e-3);
  });

  it('trains mnist-cnn (loss falls over a few Adam steps)', async () => {
    const run = await runEngine('mnist-cnn', 'tensorflow', { steps: 20, batchSize: 64 });
    expect(run.error, run.error).toBeUndefined();
    expect(run.engine).toBe('tensorflow');
    const losses = run.losses!;
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-3))).toBeLessThan(mean(losses.slice(0, 3)) * 0.9);
  });

  it('is listed by `ringtrain engines --json` with its TensorFlow version and device', async () => {
    const r = await runCli(['engines', '--json'], { env: { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' }, timeoutMs: 120_000 });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const list = (JSON.parse(r.stdout.trim()) as { engines: { engine: string; available: boolean; version: string; device: string | null; why?: string }[] }).engines;
    expect(list.map((e) => e.engine)).toEqual(['tensorflow', 'webgpu', 'wasm', 'cpu']);
    expect(list[0]).toMatchObject({ available: true, device: 'CPU' });
    expect(list[0]!.version).toContain(`TensorFlow ${tfVersion}`);
    expect(list[1]).toMatchObject({ available: false, why: expect.stringMatching(/Dawn found no WebGPU adapter|no Vulkan loader \(libvulkan\.so\.1\)/) });
    expect(list.slice(2).every((e) => e.available && e.device === 'CPU')).toBe(true);
  });

  it('the C functions wheels are checked for are exactly those the built binding imports', async () => {
    const found = installedEngine();
    if ('why' in found) throw new Error(found.why);
    expect(await bindingImports(join(found.dir, found.record.binding))).toEqual([...REQUIRED_SYMBOLS].sort());
  });
});
