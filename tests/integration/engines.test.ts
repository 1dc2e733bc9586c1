/**
 * Engine choice: `auto` falls back with a logged reason when an optional engine is missing or
 * unsuitable; an engine asked for by name that cannot run the job is a clear start-up error; the
 * GPU flags are validated before anything starts.
 */
import { describe, expect, inject, it } from 'vitest';
import { NO_VULKAN, runEngine } from '../helpers/engines.js';
import { runCli } from '../helpers/cli.js';
import { vulkanEnv } from '../helpers/vulkan.js';
import { TF_ON } from '../helpers/tensorflow.js';

/** The native engine (installed by tests/setup/tensorflow.ts) hidden, to reach the engines after it. */
const NO_TF = { RT_NO_TENSORFLOW: '1' };

describe('engine selection', () => {
  it('auto takes the native tensorflow engine first', async () => {
    const s = inject('tensorflowEngine');
    if (!s.ok) throw new Error(s.error);
    const run = await runEngine('mnist-cnn', 'auto', { env: { ...NO_VULKAN, ...TF_ON } });
    expect(run.error, run.error).toBeUndefined();
    expect(run.engine).toBe('tensorflow');
    expect(run.reason).toMatch(new RegExp(`^auto: first usable engine; TensorFlow ${s.tfVersion.replace(/\./g, '\\.')} from tensorflow_cpu-`));
  });

  it('auto skips an unavailable tensorflow engine and an absent WebGPU adapter, then uses wasm', async () => {
    const run = await runEngine('mnist-mlp', 'auto', { env: { ...NO_VULKAN, ...NO_TF } });
    expect(run.error, run.error).toBeUndefined();
    expect(run.engine).toBe('wasm');
    expect(run.reason).toMatch(/tensorflow: turned off by RT_NO_TENSORFLOW=1/);
    expect(run.reason).toMatch(/webgpu: (Dawn found no WebGPU adapter|no Vulkan loader \(libvulkan\.so\.1\) on this machine)/);
  });

  it('auto refuses a software WebGPU adapter', async () => {
    const run = await runEngine('mnist-mlp', 'auto', { env: { ...vulkanEnv(), ...NO_TF } });
    expect(run.engine).toBe('wasm');
    expect(run.reason).toMatch(/webgpu: the only WebGPU adapter is a software one/);
  });

  it('auto skips wasm for a job that needs a kernel wasm lacks, and says which', async () => {
    const run = await runEngine('mnist-cnn', 'auto', { env: { ...NO_VULKAN, ...NO_TF } });
    expect(run.engine).toBe('cpu');
    expect(run.reason).toMatch(/wasm: the wasm engine lacks kernel Conv2DBackpropFilter/);
  });

  it('an explicit engine that lacks a kernel fails at start naming the kernel and an engine that has it', async () => {
    const run = await runEngine('mnist-cnn', 'wasm');
    expect(run.error).toMatch(/^RT_BACKEND_UNAVAILABLE: the wasm engine lacks kernel Conv2DBackpropFilter, which this job needs; the cpu engine has it/);
  });

  it.each([
    ['tensorflow', /--backend tensorflow is unavailable: turned off by RT_NO_TENSORFLOW=1/],
    ['webgpu', /--backend webgpu is unavailable: (Dawn found no WebGPU adapter|no Vulkan loader)/],
  ])('an explicit unavailable engine (%s) is a clear error', async (backend, message) => {
    const run = await runEngine('mnist-mlp', backend, { env: { ...NO_VULKAN, ...NO_TF } });
    expect(run.error).toMatch(/^RT_BACKEND_UNAVAILABLE: /);
    expect(run.error).toMatch(message);
  });

  it('--gpu I opens the I-th WebGPU adapter; past the last one it is a clear error listing them', async () => {
    const env = vulkanEnv();
    const [first, past] = await Promise.all([runEngine('mnist-mlp', 'webgpu', { env, gpu: 0 }), runEngine('mnist-mlp', 'webgpu', { env, gpu: 7 })]);
    expect(first.error, first.error).toBeUndefined();
    expect(first.reason).toMatch(/adapter llvmpipe/);
    expect(past.error).toMatch(/^RT_BACKEND_UNAVAILABLE: --backend webgpu is unavailable: --gpu 7 asks for adapter 7 but Dawn lists only 1: llvmpipe/);
  });
});

describe('GPU flags', () => {
  const refused: [string[], RegExp][] = [
    [['local', '--gpus', '0,x'], /--gpus must be a comma-separated list/],
    [['local', '--gpus', '0,0'], /--gpus lists a device more than once/],
    [['local', '--gpus', '0,1', '--workers', '3'], /--workers 3 disagrees with --gpus 0,1/],
    [['local', '--gpus', '300'], /--gpus indices must be in \[0, 255\]/],
    [['worker', '--coordinator', 'ws://127.0.0.1:1', '--gpu', '-1'], /--gpu must be an integer in \[0, 255\]/],
    [['worker', '--coordinator', 'ws://127.0.0.1:1', '--gpu', '1.5'], /--gpu must be an integer in \[0, 255\]/],
  ];
  it('bad --gpu/--gpus values are refused with one RT_BAD_CONFIG line, exit 2', async () => {
    // All at once: each is a whole CLI start-up, and they are independent.
    const results = await Promise.all(refused.map(([args]) => runCli(args, { timeoutMs: 60_000 })));
    results.forEach((r, i) => {
      const [args, message] = refused[i]!;
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^ringtrain: error RT_BAD_CONFIG: /);
      expect(r.stderr).toMatch(message);
    });
  });

  it('local --gpus starts one worker per listed GPU', async () => {
    const r = await runCli(['local', '--gpus', '0,1', '--backend', 'wasm', '--job', 'regression-mlp', '--epochs', '1', '--json', '--log-level', 'warn', '--output', 'test-artifacts/gpus', '--overwrite'], { env: NO_VULKAN, timeoutMs: 120_000 });
    expect(r.stderr).not.toMatch(/error RT_/);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { workers: number; engines: string[] };
    expect(r.code).toBe(0);
    expect(summary.workers).toBe(2);
    expect(summary.engines).toEqual(['wasm', 'wasm']);
  });
});
