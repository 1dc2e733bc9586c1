/**
 * `npm run bench:optim`: what each optimizer's update costs per step on a flat buffer of P values
 * (the sweep a worker runs after every all-reduce), with its buffers in a KernelArena (the SIMD
 * kernels) and in plain Float32Arrays (the JavaScript reference), side
 * by side in one process, alternating, medians of many repeats. Also global-norm clipping's pass.
 * Prints one JSON line per optimizer: ms per step both ways and the ratio.
 *
 *   --params 4000000  --repeats 30
 */
import { parseArgs } from 'node:util';
import { allocator, KernelArena } from '../dist/shared/kernels/kernel-arena.js';
import { clipGlobalNorm, resolveOptimizer } from '../dist/shared/optim/index.js';
import { emit, median, round } from './lines.js';

const { values: f } = parseArgs({ options: { params: { type: 'string', default: '4000000' }, repeats: { type: 'string', default: '30' } } });
const P = Number(f.params);
const repeats = Number(f.repeats);

const fill = (a: Float32Array, k: number): Float32Array => {
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(i * 0.001 + k);
  return a;
};

/** One timed step of `run` after a warm-up, ms. */
function timeIt(run: (k: number) => void): number[] {
  for (let k = 0; k < 3; k++) run(k);
  const out: number[] = [];
  for (let k = 0; k < repeats; k++) {
    const t0 = performance.now();
    run(k);
    out.push(performance.now() - t0);
  }
  return out;
}

const cases: [string, Record<string, unknown>][] = [
  ['adam', { optimizer: 'adam' }],
  ['adamw', { optimizer: 'adamw', weightDecay: 0.01 }],
  ['sgd', { optimizer: 'sgd' }],
  ['sgd-momentum', { optimizer: 'sgd', momentum: 0.9 }],
  ['sgd-nesterov-wd', { optimizer: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 }],
];
for (const [name, flags] of cases) {
  const opt = resolveOptimizer({ lr: 1e-3, ...flags });
  const arena = KernelArena.create([P, P, P, P]);
  const alloc = allocator(arena);
  const inArena = { p: fill(alloc(P), 0), g: fill(alloc(P), 1), s: opt.createState(P, alloc) };
  const plain = { p: fill(new Float32Array(P), 0), g: fill(new Float32Array(P), 1), s: opt.createState(P) };
  const kernel: number[] = [];
  const js: number[] = [];
  // Alternating rounds, so load from other processes weighs on both sides alike.
  for (let round2 = 0; round2 < 3; round2++) {
    kernel.push(...timeIt((k) => opt.step(inArena.p, inArena.g, inArena.s, k, 64)));
    js.push(...timeIt((k) => opt.step(plain.p, plain.g, plain.s, k, 64)));
  }
  // The arena side really is the kernel's: every buffer of the step lives in the one memory.
  const inOne = KernelArena.holding(inArena.p, inArena.g, ...Object.values(inArena.s.slots)) !== null;
  emit({ bench: 'optim', optimizer: name, params: P, arenaMs: round(median(kernel), 3), plainMs: round(median(js), 3), plainOverArena: round(median(js) / median(kernel), 2), inOneArena: inOne });
}
// Clipping's norm pass (bound never reached, so only the norm is computed).
const gArena = fill(allocator(KernelArena.create([P]))(P), 2);
const gPlain = fill(new Float32Array(P), 2);
const normArena: number[] = [];
const normPlain: number[] = [];
for (let r = 0; r < 3; r++) {
  normArena.push(...timeIt(() => clipGlobalNorm(gArena, 64, 1e30)));
  normPlain.push(...timeIt(() => clipGlobalNorm(gPlain, 64, 1e30)));
}
emit({ bench: 'optim', pass: 'global-norm', params: P, arenaMs: round(median(normArena), 3), plainMs: round(median(normPlain), 3), plainOverArena: round(median(normPlain) / median(normArena), 2) });
