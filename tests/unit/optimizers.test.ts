import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { ADAM_DEFAULTS, adamStep, clipGlobalNorm, createAdamState, fromConfig, globalNorm, lrFactor, resolveOptimizer, type LrSchedule, type OptimState } from '../../src/shared/optim/index.js';
import { allocator, KernelArena } from '../../src/shared/kernels/kernel-arena.js';
import { maxAbsDiff } from '../../src/shared/kernels/flat.js';
import { codeOf } from '../helpers/codes.js';
import { Replica, initialState } from '../../src/shared/engine/replica.js';
import { decodeMessage, encodeMessage } from '../../src/shared/protocol/codec.js';
import { bits, spread as spreadValues } from '../helpers/values.js';

/** Values across many magnitudes and signs, with exact zeros, negative zeros and float32 subnormals. */
const spread = (n: number, seed: number): Float32Array => spreadValues(n, seed, { zeros: 0.03, negativeZeros: 0.02, subnormals: 0.03, decades: [-5, 3] });
const wave = (n: number, k: number): Float32Array => new Float32Array(n).map((_, i) => Math.cos(i * 0.37 + k) * (1 + (i % 5)));

describe('learning-rate schedules', () => {
  const s = (over: Partial<LrSchedule>): LrSchedule => ({ schedule: 'constant', warmupSteps: 0, decaySteps: 1, stepSize: 1, gamma: 1, ...over });
  it('warm up linearly from 1/W, then follow the schedule', () => {
    expect([0, 1, 3, 4, 100].map((k) => lrFactor(s({ schedule: 'warmup', warmupSteps: 4 }), k))).toEqual([0.25, 0.5, 1, 1, 1]);
    const cos = s({ schedule: 'cosine', warmupSteps: 10, decaySteps: 110 });
    expect(lrFactor(cos, 9)).toBe(1);
    expect(lrFactor(cos, 10)).toBe(1);
    expect(lrFactor(cos, 60)).toBeCloseTo(0.5, 15);
    expect(lrFactor(cos, 110)).toBeCloseTo(0, 15);
    expect(lrFactor(cos, 500)).toBeCloseTo(0, 15);
    expect([0, 2, 3, 4, 5, 7].map((k) => lrFactor(s({ schedule: 'step', warmupSteps: 2, stepSize: 2, gamma: 0.5 }), k))).toEqual([0.5, 1, 1, 0.5, 0.5, 0.25]);
    expect(lrFactor(s({}), 1e6)).toBe(1);
  });
});

describe('global-norm clipping', () => {
  it('sums squares in float64 in its fixed order and leaves a buffer within the bound untouched', () => {
    const g = wave(1001, 1);
    // Four lane sums over the first 1000 values, combined pairwise, then the last value.
    const lanes = [0, 0, 0, 0];
    for (let i = 0; i < 1000; i++) lanes[i % 4]! += Math.fround(g[i]! / 7) ** 2;
    const ref = (lanes[0]! + lanes[1]!) + (lanes[2]! + lanes[3]!) + Math.fround(g[1000]! / 7) ** 2;
    expect(globalNorm(g, 7)).toBe(Math.sqrt(ref));
    const before = g.slice();
    expect(clipGlobalNorm(g, 7, 1e6)).toEqual({ divisor: 7, norm: Math.sqrt(ref) });
    expect(bits(g).equals(bits(before))).toBe(true);
  });
  it('beyond the bound, hands back the clipped mean with divisor 1', () => {
    const g = wave(1001, 2);
    const r = clipGlobalNorm(g, 7, 1);
    expect(r.divisor).toBe(1);
    expect(r.norm).toBeGreaterThan(1);
    expect(globalNorm(g)).toBeCloseTo(1, 5);
  });
});

describe('built-in optimizers', () => {
  it('adam through the Optimizer interface gives adamStep\'s bits, and matches tf.train.adam', async () => {
    const n = 257;
    const opt = resolveOptimizer({ lr: 0.01 });
    expect(opt.getConfig()).toEqual({ lr: 0.01, ...ADAM_DEFAULTS, lrSchedule: 'constant' });
    const p1 = wave(n, 9);
    const p2 = p1.slice();
    const st = opt.createState(n);
    const direct = createAdamState(n);
    await tf.setBackend('cpu');
    const variable = tf.variable(tf.tensor1d(p1.slice()));
    const ref = tf.train.adam(0.01, ADAM_DEFAULTS.beta1, ADAM_DEFAULTS.beta2, ADAM_DEFAULTS.epsilon);
    for (let k = 0; k < 20; k++) {
      const g = wave(n, k);
      opt.step(p1, g, st, k);
      adamStep(p2, g, direct, { lr: 0.01, ...ADAM_DEFAULTS });
      ref.applyGradients([{ name: variable.name, tensor: tf.tensor1d(g) }]);
    }
    expect(bits(p1).equals(bits(p2))).toBe(true);
    expect(bits(st.slots['v']!).equals(bits(direct.v))).toBe(true);
    expect(st.scalars).toEqual({ t: 20, beta1Pow: direct.beta1Pow, beta2Pow: direct.beta2Pow });
    expect(maxAbsDiff(p1, variable.dataSync() as Float32Array)).toBeLessThanOrEqual(1e-5);
  });

  const kernelCases: Record<string, unknown>[] = [
    { optimizer: 'adamw', weightDecay: 0.1, lrSchedule: 'cosine', warmupSteps: 2, lrDecaySteps: 9 },
    { optimizer: 'adam' },
    { optimizer: 'sgd' },
    { optimizer: 'sgd', weightDecay: 0.01 },
    { optimizer: 'sgd', momentum: 0.9 },
    { optimizer: 'sgd', momentum: 0.8, nesterov: true, weightDecay: 0.001, lrSchedule: 'step', lrStepSize: 3 },
  ];
  for (const flags of kernelCases) {
    it(`${JSON.stringify(flags)}: the SIMD kernel gives the JavaScript sweep's bits (n = 4099, zeros, -0, subnormals)`, () => {
      const n = 4099;
      const opt = resolveOptimizer({ lr: 0.01, ...flags });
      const arena = KernelArena.create([n, n, n, n]);
      const alloc = allocator(arena);
      const pw = alloc(n);
      pw.set(spread(n, 5));
      const sw = opt.createState(n, alloc);
      const gw = alloc(n);
      // The kernel path must really be taken, or this would compare the reference with itself.
      expect(KernelArena.holding(pw, gw, ...Object.values(sw.slots))).toBe(arena);
      const pj = spread(n, 5);
      const sj = opt.createState(n);
      for (let k = 0; k < 8; k++) {
        gw.set(spread(n, 100 + k));
        opt.step(pw, gw, sw, k, 13);
        opt.step(pj, spread(n, 100 + k), sj, k, 13);
        expect(bits(pw).equals(bits(pj))).toBe(true);
        for (const name of opt.slotNames) expect(bits(sw.slots[name]!).equals(bits(sj.slots[name]!)), name).toBe(true);
      }
      expect(maxAbsDiff(pw, spread(n, 5))).toBeGreaterThan(1e-4);
    });
  }

  it('global norm: the SIMD kernel and the JavaScript loop give the same bits', () => {
    for (const n of [1, 3, 4, 7, 4099]) {
      const arena = KernelArena.create([n]);
      const gw = allocator(arena)(n);
      gw.set(spread(n, n));
      expect(KernelArena.holding(gw)).toBe(arena);
      expect(globalNorm(gw, 3)).toBe(globalNorm(spread(n, n), 3));
    }
  });

  it('adamw with zero weight decay is adam to the bit', () => {
    const a = resolveOptimizer({ optimizer: 'adam', lr: 0.01, epsilon: 1e-8 });
    const w = resolveOptimizer({ optimizer: 'adamw', lr: 0.01, weightDecay: 0 });
    const pa = wave(99, 1);
    const pw = pa.slice();
    const sa = a.createState(99);
    const sw = w.createState(99);
    for (let k = 0; k < 5; k++) {
      a.step(pa, wave(99, k), sa, k);
      w.step(pw, wave(99, k), sw, k);
    }
    expect(bits(pa).equals(bits(pw))).toBe(true);
  });

  it('sgd keeps a momentum slot only with momentum, and its first step is plain SGD', () => {
    expect(resolveOptimizer({ optimizer: 'sgd', lr: 0.1 }).slotNames).toEqual([]);
    const opt = resolveOptimizer({ optimizer: 'sgd', lr: 0.1, momentum: 0.9 });
    expect(opt.slotNames).toEqual(['momentum']);
    const plain = resolveOptimizer({ optimizer: 'sgd', lr: 0.1 });
    const p1 = wave(50, 3);
    const p2 = p1.slice();
    const s1 = opt.createState(50);
    opt.step(p1, wave(50, 0), s1, 0);
    plain.step(p2, wave(50, 0), plain.createState(50), 0);
    expect(bits(p1).equals(bits(p2))).toBe(true);
    expect(bits(s1.slots['momentum']!).equals(bits(wave(50, 0)))).toBe(true);
  });

  it('fromConfig(getConfig()) rebuilds the same optimizer', () => {
    for (const flags of [{ optimizer: 'sgd', momentum: 0.5, nesterov: true, lrSchedule: 'step', lrGamma: 0.3 }, { optimizer: 'adamw', lrSchedule: 'cosine', lrDecaySteps: 40 }]) {
      const a = resolveOptimizer({ lr: 0.05, ...flags });
      const b = fromConfig(a.name, a.getConfig());
      expect(b.getConfig()).toEqual(a.getConfig());
      expect([0, 7, 39].map((k) => b.lrAt(k))).toEqual([0, 7, 39].map((k) => a.lrAt(k)));
    }
  });
});

describe('checkState', () => {
  const opt = resolveOptimizer({ lr: 0.01 });
  const trained = (): OptimState => {
    const s = opt.createState(8);
    for (let k = 0; k < 3; k++) opt.step(new Float32Array(8), wave(8, k), s, k);
    return s;
  };
  it('accepts a fresh state and a trained one', () => {
    expect(opt.checkState(opt.createState(8), 8, 0)).toBeNull();
    expect(opt.checkState(trained(), 8, 3)).toBeNull();
    // Skipped (non-finite) steps advance the step but not the optimizer.
    expect(opt.checkState(trained(), 8, 5)).toBeNull();
  });
  it('names what is wrong', () => {
    const cases: [OptimState, number, RegExp][] = [
      [{ ...trained(), optimizer: 'sgd' }, 3, /belongs to optimizer "sgd"/],
      [{ ...trained(), config: { ...opt.getConfig(), lr: 0.5 } }, 3, /configuration/],
      [{ ...trained(), slots: { m: new Float32Array(8) } }, 3, /keeps slots \[m, v\]/],
      [{ ...trained(), slots: { m: new Float32Array(8), v: new Float32Array(7) } }, 3, /slot v holds 7 values for 8/],
      [{ ...trained(), slots: { m: Float32Array.of(0, 0, NaN, 0, 0, 0, 0, 0), v: new Float32Array(8) } }, 3, /slot m holds a non-finite/],
      [{ ...trained(), slots: { m: new Float32Array(8), v: Float32Array.of(0, 0, 0, -1e-9, 0, 0, 0, 0) } }, 3, /v\[3\] = .* is negative/],
      [trained(), 2, /t = 3 must be an integer in \[0, 2\]/],
      [{ ...trained(), scalars: { t: 3, beta1Pow: 0.9 ** 3, beta2Pow: 0.999 ** 3 + 1e-12 } }, 3, /beta powers/],
      [{ ...trained(), scalars: { t: 3 } }, 3, /keeps scalars/],
    ];
    for (const [state, steps, problem] of cases) expect(opt.checkState(state, 8, steps)).toMatch(problem);
  });
});

describe('optimizer settings', () => {
  it('refuse bad values with RT_BAD_CONFIG naming the flag, or the code the caller passes', () => {
    expect(codeOf(() => resolveOptimizer({ optimizer: 'sgd', lr: 0.1, momentum: -1 }))).toBe('RT_BAD_CONFIG');
    expect(() => resolveOptimizer({ lr: 0.1, lrSchedule: 'cosine' })).toThrow(/--lr-schedule cosine needs --lr-decay-steps/);
    expect(resolveOptimizer({ lr: 0.1, lrSchedule: 'cosine' }, 300).getConfig()['lrDecaySteps']).toBe(300);
    expect(() => resolveOptimizer({ lr: 0 })).toThrow(/--lr must be a positive number/);
    expect(() => resolveOptimizer({ lr: 0.1, beta1: 1 })).toThrow(/--beta1 must be a number in \[0, 1\)/);
    expect(codeOf(() => fromConfig('lamb', { lr: 0.1 }, 'RT_BAD_MESSAGE'))).toBe('RT_BAD_MESSAGE');
  });
});

describe('optimizer state across a handover', () => {
  for (const flags of [{ optimizer: 'adam' }, { optimizer: 'adamw', lrSchedule: 'cosine', warmupSteps: 3, lrDecaySteps: 20 }, { optimizer: 'sgd', momentum: 0.9, nesterov: true }]) {
    it(`${flags.optimizer}: a replica's state sent as a message and adopted continues bit-identically`, () => {
      const n = 101;
      const opt = resolveOptimizer({ lr: 0.01, ...flags });
      const whole = Replica.fromState(initialState(wave(n, 1), opt));
      const first = Replica.fromState(initialState(wave(n, 1), opt));
      const stepOn = (r: Replica, k: number): void => {
        opt.step(r.params, wave(n, k), r.optim, k, 7);
        r.step += 1;
      };
      for (let k = 0; k < 12; k++) stepOn(whole, k);
      for (let k = 0; k < 5; k++) stepOn(first, k);
      const msg = decodeMessage(encodeMessage({ type: 'state', generation: 2, state: first.toState() }));
      if (msg.type !== 'state' || !msg.state) throw new Error('no state came back');
      expect(opt.checkState(msg.state.optim, n, msg.state.step)).toBeNull();
      const adopted = Replica.fromState(msg.state, allocator(KernelArena.create([n, n, n, n])));
      for (let k = 5; k < 12; k++) stepOn(adopted, k);
      expect(bits(adopted.params).equals(bits(whole.params))).toBe(true);
      expect(adopted.optim.scalars).toEqual(whole.optim.scalars);
      for (const name of opt.slotNames) expect(bits(adopted.optim.slots[name]!).equals(bits(whole.optim.slots[name]!))).toBe(true);
    });
  }
});
