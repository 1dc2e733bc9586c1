/**
 * One replica's training steps on one engine, without coordinator or ring: the same Trainer, flat
 * Adam and weight loading a worker uses, on the job's first training batches. Used by
 * bench/engines.mjs and bench/gpu-check.sh to time engines, and by the tests to compare engines.
 */
import type * as TF from '@tensorflow/tfjs';
import { selectEngine } from './backend.js';
import { Trainer } from './trainer.js';
import { resolveOptimizer } from '../shared/optim/index.js';
import { Replica, initialState } from './replica.js';
import { allocator, KernelArena } from '../shared/kernel-arena.js';
import { inputSize, type Job } from '../jobs/job.js';
import type { BackendName } from '../shared/config.js';
import { checksum, divideInPlace } from '../shared/flat.js';
import type { Logger } from '../shared/logger.js';

export interface EngineRunOptions {
  backend: BackendName;
  job: Job;
  steps: number;
  batchSize: number;
  seed: number;
  gpu: number | null;
  lr?: number;
}

export interface EngineRun {
  engine: string;
  reason: string;
  job: string;
  batchSize: number;
  steps: number;
  /** Mean loss of each step's batch, before that step's update. */
  losses: number[];
  /** Wall time of each step (gradient, read-back, Adam, weight upload). */
  stepMs: number[];
  /** Median step time without the first step, which includes shader/kernel compilation. */
  msPerStep: number;
  /** Training FLOPs of one step (forward × 3 for forward + backward), for GFLOP/s. */
  flopsPerStep: number;
  gflops: number;
  checksum: string;
  weights: Float32Array;
}

/**
 * Forward FLOPs of one sample through dense and 2-D convolution layers (multiply-adds × 2); the
 * other layers (pooling, activations) are memory-bound and left out, as is usual for GFLOP/s.
 */
export function forwardFlops(model: TF.LayersModel): number {
  let flops = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const kernel = layer.getWeights()[0];
    if (!kernel) continue;
    const out = layer.outputShape as (number | null)[];
    const outSpatial = out.slice(1, -1).reduce<number>((a, d) => a * (d ?? 1), 1);
    if (cls === 'Dense') flops += 2 * kernel.size * outSpatial;
    else if (cls === 'Conv2D') flops += 2 * kernel.size * outSpatial;
  }
  return flops;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Runs `steps` training steps of `job` on the chosen engine, over consecutive training batches. */
export async function runEngineSteps(opts: EngineRunOptions, log: Logger): Promise<EngineRun> {
  const { job } = opts;
  const engine = await selectEngine(opts.backend, log, async (tf) => Trainer.create(tf, job, 0).probe(), { gpu: opts.gpu });
  const trainer = Trainer.create(engine.tf, job, opts.seed);
  try {
    const data = (await job.loadData(opts.seed)).train;
    const width = inputSize(job);
    // The buffers a worker trains with (generation.ts): Adam runs as SIMD in place.
    const P = trainer.paramCount;
    const alloc = allocator(KernelArena.create([P, P, P, P]));
    const optimizer = resolveOptimizer({ lr: opts.lr ?? job.defaults?.lr ?? 1e-3 });
    const { params, optim } = Replica.fromState(initialState(trainer.getWeights(), optimizer), alloc);
    const grads = alloc(P);
    const losses: number[] = [];
    const stepMs: number[] = [];
    for (let s = 0; s < opts.steps; s++) {
      const start = (s * opts.batchSize) % Math.max(1, data.size - opts.batchSize);
      const n = Math.min(opts.batchSize, data.size - start);
      const x = data.x.subarray(start * width, (start + n) * width);
      const y = data.y.subarray(start * job.outputSize, (start + n) * job.outputSize);
      const t0 = performance.now();
      const lossSum = await trainer.computeGradients(x, y, n, grads);
      divideInPlace(grads, n);
      optimizer.step(params, grads, optim, s);
      trainer.setWeights(params);
      stepMs.push(performance.now() - t0);
      losses.push(lossSum / n);
    }
    const msPerStep = median(stepMs.length > 1 ? stepMs.slice(1) : stepMs);
    const flopsPerStep = 3 * forwardFlops(trainer.model) * opts.batchSize;
    return {
      engine: engine.name, reason: engine.reason, job: job.name, batchSize: opts.batchSize, steps: opts.steps,
      losses, stepMs, msPerStep, flopsPerStep, gflops: flopsPerStep / (msPerStep * 1e6), checksum: checksum(params), weights: params,
    };
  } finally {
    trainer.dispose();
  }
}
