/**
 * One (job, engine) in this process, one JSON line out: the training steps a worker runs at N = 1
 * (the same Trainer, flat Adam in the KernelArena and weight upload, no coordinator or ring) on the
 * job's first training batches, and with `--compare` the same step set side by side, alternating,
 * against a bare tfjs gradient step, tfjs's own Adam step and the other read-back choices.
 * bench/engines.ts runs one of these per case; the tests use it to compare engines (its
 * `--dump-weights` line carries the final weights).
 *
 *   node dist-bench/engine-steps.js --child --jobs mnist-mlp --backends wasm [--steps 5]
 *        [--batch-size 32] [--gpu I] [--seed 42] [--read-back each|one] [--compare]
 *        [--flag NAME=VALUE] [--dump-weights]
 * (--child, --jobs and --backends keep the names the tests have always passed.)
 */
import { parseArgs } from 'node:util';
import type * as TF from '@tensorflow/tfjs';
import { selectEngine } from '../dist/shared/engine/backend.js';
import { Trainer } from '../dist/shared/engine/trainer.js';
import { resolveOptimizer } from '../dist/shared/optim/index.js';
import { Replica, initialState } from '../dist/shared/engine/replica.js';
import { allocator, KernelArena } from '../dist/shared/kernels/kernel-arena.js';
import { inputSize, type JobV1 as Job, type Tfjs } from '../dist/shared/job/job.js';
import { loadJob } from '../dist/jobs/registry.js';
import type { BackendName } from '../dist/shared/config/config.js';
import { checksum } from '../dist/shared/kernels/flat.js';
import { createLogger } from '../dist/shared/base/logger.js';
import type { ReadBack } from '../dist/shared/engine/step-plan.js';
import { wideMlp } from './jobs/wide-mlp.js';
import { median, round, v1Job } from './lines.js';

/** Jobs only the benches know, besides the built-ins and module paths. */
export async function benchJob(spec: string): Promise<Job> {
  return spec === wideMlp.name ? wideMlp : v1Job(await loadJob(spec));
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
    if (!kernel || (cls !== 'Dense' && cls !== 'Conv2D')) continue;
    const out = layer.outputShape as (number | null)[];
    flops += 2 * kernel.size * out.slice(1, -1).reduce<number>((a, d) => a * (d ?? 1), 1);
  }
  return flops;
}

/** The batches a run walks through: consecutive rows of the training split. */
function batches(job: Job, data: { x: Float32Array; y: Float32Array; size: number }, batchSize: number): (s: number) => { x: Float32Array; y: Float32Array; n: number } {
  const width = inputSize(job);
  return (s) => {
    const start = (s * batchSize) % Math.max(1, data.size - batchSize);
    const n = Math.min(batchSize, data.size - start);
    return { x: data.x.subarray(start * width, (start + n) * width), y: data.y.subarray(start * job.outputSize, (start + n) * job.outputSize), n };
  };
}

/** A worker's step at N = 1: gradients into the fusion buffer, Adam in the arena, weights in. */
function trainerStepper(tf: Tfjs, job: Job, seed: number, batchSize: number, readBack?: ReadBack): { trainer: Trainer; step: (b: { x: Float32Array; y: Float32Array; n: number }) => Promise<number>; params: Float32Array } {
  const trainer = Trainer.create(tf, job, seed, readBack ? { readBack } : {});
  const P = trainer.paramCount;
  const alloc = allocator(KernelArena.create([P, P, P, P]));
  const optimizer = resolveOptimizer({ lr: job.defaults?.lr ?? 1e-3 });
  const { params, optim } = Replica.fromState(initialState(trainer.getWeights(), optimizer), alloc);
  const grads = alloc(P);
  let stepIndex = 0;
  return {
    trainer, params,
    step: async ({ x, y, n }) => {
      const lossSum = await trainer.computeGradients(x, y, n, grads, { microBatch: batchSize });
      // Adam divides the summed gradient by the sample count in its own sweep, as in a worker.
      optimizer.step(params, grads, optim, stepIndex++, n);
      trainer.setWeights(params);
      return lossSum / n;
    },
  };
}

/** What a tfjs user's own loop does per step, without (bare) and with (adam) the update. */
function tfjsSteppers(tf: Tfjs, job: Job, seed: number): { bare: (b: { x: Float32Array; y: Float32Array; n: number }) => Promise<void>; adam: (b: { x: Float32Array; y: Float32Array; n: number }) => Promise<void>; dispose: () => void } {
  const bareModel = Trainer.create(tf, job, seed);
  const adamModel = Trainer.create(tf, job, seed);
  const vars = (m: TF.LayersModel): TF.Variable[] => m.trainableWeights.map((w) => w.read() as TF.Variable);
  const bareVars = vars(bareModel.model);
  const adamVars = vars(adamModel.model);
  const opt = tf.train.adam(job.defaults?.lr ?? 1e-3, 0.9, 0.999, 1e-7);
  const inputs = (b: { x: Float32Array; y: Float32Array; n: number }): [TF.Tensor, TF.Tensor] => [tf.tensor(b.x, [b.n, ...job.inputShape], 'float32'), tf.tensor(b.y, [b.n, job.outputSize], 'float32')];
  return {
    // tf.variableGrads and every gradient read back: the least any data-parallel trainer does.
    bare: async (b) => {
      const [xs, ys] = inputs(b);
      const { value, grads } = tf.variableGrads(() => tf.sum(job.loss(tf, ys, bareModel.model.apply(xs, { training: true }) as TF.Tensor)) as TF.Scalar, bareVars);
      for (const v of bareVars) await grads[v.name]!.data();
      await value.data();
      tf.dispose([xs, ys, value, ...Object.values(grads)]);
    },
    // The loss read asynchronously: webgpu in Node has no synchronous read.
    adam: async (b) => {
      const loss = tf.tidy(() => {
        const [xs, ys] = inputs(b);
        return opt.minimize(() => tf.mean(job.loss(tf, ys, adamModel.model.apply(xs, { training: true }) as TF.Tensor)) as TF.Scalar, true, adamVars)!;
      });
      await loss.data();
      loss.dispose();
    },
    dispose: () => {
      opt.dispose();
      bareModel.dispose();
      adamModel.dispose();
    },
  };
}

/** The read-back choices compared side by side. */
const READ_BACKS: ReadBack[] = ['each', 'one'];

async function main(): Promise<void> {
  const { values: f } = parseArgs({
    options: {
      child: { type: 'boolean', default: false },
      jobs: { type: 'string', default: 'mnist-mlp' },
      backends: { type: 'string', default: 'wasm' },
      steps: { type: 'string', default: '5' },
      'batch-size': { type: 'string', default: '32' },
      gpu: { type: 'string' },
      seed: { type: 'string', default: '42' },
      'read-back': { type: 'string' },
      compare: { type: 'boolean', default: false },
      flag: { type: 'string', multiple: true, default: [] },
      'dump-weights': { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer (got ${v})`);
    return n;
  };
  const steps = positive('steps', f.steps);
  const batchSize = positive('batch-size', f['batch-size']);
  const seed = Number(f.seed);
  const job = await benchJob(f.jobs!);
  const tStart = performance.now();
  const engine = await selectEngine(f.backends as BackendName, createLogger('bench', 'warn'), async (tf) => Trainer.create(tf, job, 0).probe(), { gpu: f.gpu === undefined ? null : Number(f.gpu) });
  const tf = engine.tf;
  const engineStartMs = performance.now() - tStart;
  const data = (await job.loadData(seed)).train;
  const batch = batches(job, data, batchSize);
  const run = trainerStepper(tf, job, seed, batchSize, f['read-back'] as ReadBack | undefined);
  for (const kv of f.flag!) {
    const [k, v] = kv.split('=');
    tf.env().set(k!, v === 'true' ? true : v === 'false' ? false : Number(v));
  }
  const losses: number[] = [];
  const stepMs: number[] = [];
  let cpu = process.cpuUsage();
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    losses.push(await run.step(batch(s)));
    stepMs.push(performance.now() - t0);
    // CPU time from the second step on (the first compiles kernels).
    if (s === 0) cpu = process.cpuUsage();
  }
  const used = process.cpuUsage(cpu);
  // CPU time of this process (every engine thread included, a software GPU adapter's too) per
  // step: on a shared machine it moves much less with others' load than wall time does.
  const cpuMsPerStep = steps > 1 ? (used.user + used.system) / 1000 / (steps - 1) : NaN;
  // The first step includes kernel compilation and allocation; the rest are the steady state.
  const msPerStep = median(stepMs.length > 1 ? stepMs.slice(1) : stepMs);
  const flopsPerStep = 3 * forwardFlops(run.trainer.model) * batchSize;
  const out: Record<string, unknown> = {
    bench: 'engines', job: job.name, engine: engine.name, reason: engine.reason, batchSize, steps, params: run.trainer.paramCount,
    readBack: run.trainer.plan.readBack, fixedShapes: run.trainer.plan.fixedShapes,
    msPerStep: round(msPerStep, 2), cpuMsPerStep: round(cpuMsPerStep, 2), gflops: round(flopsPerStep / (msPerStep * 1e6), 3), engineStartMs: round(engineStartMs, 0),
    losses: losses.map((l) => round(l, 5)), stepMs: stepMs.map((m) => round(m, 1)), checksum: checksum(run.params),
  };
  if (f['dump-weights']) out['weights'] = Buffer.from(run.params.buffer, run.params.byteOffset, run.params.byteLength).toString('base64');
  run.trainer.dispose();
  if (f.compare) out['compare'] = await compare(tf, job, seed, batchSize, steps, batch);
  // Exit only once the line is flushed (a pipe is written asynchronously): Dawn keeps the event
  // loop alive after use, so the process would not end by itself.
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
}

/**
 * The step variants side by side, one of each per round, so load from elsewhere hits all alike:
 * ringtrain's trainer step under each read-back choice, a bare tfjs gradient step and tfjs's own
 * Adam step. Medians in ms.
 */
async function compare(tf: Tfjs, job: Job, seed: number, batchSize: number, steps: number, batch: (s: number) => { x: Float32Array; y: Float32Array; n: number }): Promise<Record<string, number>> {
  const variants: Record<string, (s: number) => Promise<unknown>> = {};
  const trainers = READ_BACKS.map((rb) => [rb, trainerStepper(tf, job, seed, batchSize, rb)] as const);
  for (const [rb, t] of trainers) variants[`trainer_${rb}_ms`] = (s) => t.step(batch(s));
  const plain = tfjsSteppers(tf, job, seed);
  variants['tfjs_grad_ms'] = (s) => plain.bare(batch(s));
  variants['tfjs_adam_ms'] = (s) => plain.adam(batch(s));
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const cpuMs: Record<string, number> = Object.fromEntries(Object.keys(variants).map((k) => [k, 0]));
  for (let s = 0; s <= steps; s++) {
    for (const [k, fn] of Object.entries(variants)) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await fn(s);
      if (s > 0) {
        times[k]!.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpuMs[k]! += (c.user + c.system) / 1000;
      }
    }
  }
  for (const [, t] of trainers) t.trainer.dispose();
  plain.dispose();
  return {
    ...Object.fromEntries(Object.entries(times).map(([k, t]) => [k, round(median(t), 3)])),
    ...Object.fromEntries(Object.entries(cpuMs).map(([k, c]) => [k.replace(/_ms$/, '_cpu_ms'), round(c / Math.max(1, steps), 3)])),
  };
}

try {
  await main();
} catch (err) {
  // One line naming the failure (e.g. a kernel the engine lacks), then a non-zero exit.
  const e = err as { code?: string; message?: string; stack?: string };
  process.stderr.write(`${e.stack ?? String(err)}\n`);
  const { values } = parseArgs({ options: { jobs: { type: 'string' }, backends: { type: 'string' } }, strict: false });
  process.stdout.write(`${JSON.stringify({ bench: 'engines', job: values.jobs, engine: values.backends, error: `${e.code ?? 'error'}: ${e.message ?? String(err)}` })}\n`, () => process.exit(1));
}
