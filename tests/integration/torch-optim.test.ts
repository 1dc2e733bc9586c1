/**
 * Each optimizer against the reference it names: torch.optim.Adam, AdamW and SGD (momentum,
 * nesterov, weight decay), with torch's LambdaLR running ringtrain's schedules and torch's
 * clip_grad_norm_, from the same initial weights on the same least-squares problem for K steps.
 * ringtrain's side runs as a worker runs it: buffers in a KernelArena (the SIMD path), the summed
 * gradient divided by the sample count inside the update, clipping on the reduced buffer.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { clipGlobalNorm, resolveOptimizer } from '../../src/shared/optim/index.js';
import { allocator, KernelArena } from '../../src/shared/kernels/kernel-arena.js';
import { maxAbsDiff } from '../../src/shared/kernels/flat.js';
import { PYTHON, torchEnv } from '../helpers/torch.js';

const SCRIPT = fileURLToPath(new URL('../fixtures/torch_optim.py', import.meta.url));
const ROWS = 64;
const DIM = 37; // not a multiple of 4: the kernel's tail runs in JavaScript
const STEPS = 60;

/** A seeded uniform generator in [-1, 1), so both sides read the same float32 data from files. */
function uniform(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return new Float32Array(n).map(() => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

const x = uniform(ROWS * DIM, 1);
const wTrue = uniform(DIM, 2).map((v) => 2 * v);
const y = new Float32Array(ROWS).map((_, i) => {
  let s = 0;
  for (let j = 0; j < DIM; j++) s += x[i * DIM + j]! * wTrue[j]!;
  return s + 0.01 * Math.sin(i);
});
const w0 = uniform(DIM, 3);

/** The summed gradient of 0.5 * (x w - y)^2 over the rows, in float64, rounded to float32. */
function summedGradient(w: Float32Array, out: Float32Array): void {
  const r = new Float64Array(ROWS);
  for (let i = 0; i < ROWS; i++) {
    let s = -y[i]!;
    for (let j = 0; j < DIM; j++) s += x[i * DIM + j]! * w[j]!;
    r[i] = s;
  }
  for (let j = 0; j < DIM; j++) {
    let g = 0;
    for (let i = 0; i < ROWS; i++) g += x[i * DIM + j]! * r[i]!;
    out[j] = g;
  }
}

interface Case { title: string; flags: Record<string, unknown>; clipNorm: number }
const CASES: Case[] = [
  { title: 'adam, warm-up + cosine, clipping', flags: { optimizer: 'adam', lr: 0.05, lrSchedule: 'cosine', warmupSteps: 5, lrDecaySteps: STEPS }, clipNorm: 1 },
  { title: 'adam, constant (tf.train.adam epsilon)', flags: { optimizer: 'adam', lr: 0.02 }, clipNorm: 0 },
  { title: 'adamw, weight decay, warm-up + cosine, clipping', flags: { optimizer: 'adamw', lr: 0.05, weightDecay: 0.05, lrSchedule: 'cosine', warmupSteps: 5, lrDecaySteps: STEPS }, clipNorm: 1 },
  { title: 'sgd, momentum, warm-up + cosine, clipping', flags: { optimizer: 'sgd', lr: 0.1, momentum: 0.9, lrSchedule: 'cosine', warmupSteps: 5, lrDecaySteps: STEPS }, clipNorm: 1 },
  { title: 'sgd, nesterov, weight decay, warm-up + step, clipping', flags: { optimizer: 'sgd', lr: 0.1, momentum: 0.8, nesterov: true, weightDecay: 0.01, lrSchedule: 'step', warmupSteps: 3, lrStepSize: 10, lrGamma: 0.5 }, clipNorm: 0.5 },
  { title: 'sgd, plain, warm-up', flags: { optimizer: 'sgd', lr: 0.2, lrSchedule: 'warmup', warmupSteps: 10 }, clipNorm: 0 },
];

interface Ours { weights: Float32Array; clipped: number; lastLr: number }

/** ringtrain's side of one case, on KernelArena buffers as generation.ts allocates them. */
function ours(c: Case): Ours {
  const opt = resolveOptimizer(c.flags);
  const arena = KernelArena.create([DIM, ...opt.slotNames.map(() => DIM), DIM]);
  expect(arena).not.toBeNull();
  const alloc = allocator(arena);
  const w = alloc(DIM);
  w.set(w0);
  const state = opt.createState(DIM, alloc);
  const grads = alloc(DIM);
  let clipped = 0;
  for (let k = 0; k < STEPS; k++) {
    summedGradient(w, grads);
    let divisor = ROWS;
    if (c.clipNorm > 0) {
      const r = clipGlobalNorm(grads, ROWS, c.clipNorm);
      divisor = r.divisor;
      if (r.norm > c.clipNorm) clipped++;
    }
    opt.step(w, grads, state, k, divisor);
  }
  expect(opt.checkState(state, DIM, STEPS)).toBeNull();
  return { weights: w, clipped, lastLr: opt.lrAt(STEPS - 1) };
}

describe('optimizers against torch.optim', () => {
  let theirs: { weights: Float32Array; clipped: number; lastLr: number }[] = [];

  beforeAll(() => {
    const env = torchEnv();
    const dir = mkdtempSync(join(tmpdir(), 'rt-torch-'));
    const file = (name: string, a: Float32Array): string => {
      writeFileSync(join(dir, name), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
      return join(dir, name);
    };
    const cases = CASES.map((c, i) => {
      const opt = resolveOptimizer(c.flags);
      return { optimizer: opt.name, config: opt.getConfig(), clipNorm: c.clipNorm, steps: STEPS, out: join(dir, `out-${i}.f32`) };
    });
    const spec = { rows: ROWS, dim: DIM, x: file('x.f32', x), y: file('y.f32', y), w0: file('w0.f32', w0), cases };
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
    const r = spawnSync(PYTHON, [SCRIPT, join(dir, 'spec.json')], { env, encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`torch_optim.py failed (${r.status}): ${r.stderr.slice(-2000)}`);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { clipped: number; lastLr: number });
    theirs = cases.map((c, i) => {
      const b = readFileSync(c.out);
      return { ...lines[i]!, weights: new Float32Array(new Uint8Array(b).buffer) };
    });
  }, 900_000);

  CASES.forEach((c, i) => {
    it(`${c.title}: max |difference| ≤ 1e-5 after ${STEPS} steps`, () => {
      const mine = ours(c);
      const ref = theirs[i]!;
      expect(ref.weights.length).toBe(DIM);
      // The run really trained (far from where it started), so agreement is not two untouched copies.
      expect(maxAbsDiff(mine.weights, w0)).toBeGreaterThan(0.1);
      expect(maxAbsDiff(mine.weights, ref.weights)).toBeLessThanOrEqual(1e-5);
      expect(mine.clipped).toBe(ref.clipped);
      if (c.clipNorm > 0) expect(mine.clipped).toBeGreaterThan(0);
      expect(mine.lastLr).toBeCloseTo(ref.lastLr, 12);
    });
  });

  it('tells the variants apart far beyond the tolerance (decay, nesterov, schedule and clipping each matter)', () => {
    const base = CASES[0]!;
    const apart = (a: Case, b: Case): number => maxAbsDiff(ours(a).weights, ours(b).weights);
    expect(apart(base, { ...base, flags: { ...base.flags, optimizer: 'adamw', weightDecay: 0.05 } })).toBeGreaterThan(1e-3);
    expect(apart(base, { ...base, clipNorm: 0 })).toBeGreaterThan(1e-3);
    expect(apart(base, { ...base, flags: { ...base.flags, warmupSteps: 0 } })).toBeGreaterThan(1e-3);
    const nesterov = CASES[4]!;
    expect(apart(nesterov, { ...nesterov, flags: { ...nesterov.flags, nesterov: false } })).toBeGreaterThan(1e-3);
  });
});
