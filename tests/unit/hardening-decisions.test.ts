/** The hardening decisions, in memory: state checks, the report gate, and stall blame. */
import { describe, expect, it } from 'vitest';
import { ChecksumLog, checkState, type StateBounds } from '../../src/coordinator/state-check.js';
import { ReportGate } from '../../src/coordinator/report-gate.js';
import { blameStall } from '../../src/coordinator/blame.js';
import { checksum } from '../../src/shared/kernels/flat.js';
import type { TrainState } from '../../src/shared/protocol/protocol.js';
import { resolveOptimizer } from '../../src/shared/optim/index.js';

const P = 6;
const adam = resolveOptimizer({ lr: 1e-3 });
const bounds: StateBounds = { paramCount: P, dataSize: 100, epochs: 3, maxStep: 20, optimizer: adam };
/** Adam's state after t steps: moments as given, powers by repeated multiplication as the optimizer keeps them. */
const adamState = (t: number, m = new Float32Array(P).fill(0.1), v = new Float32Array(P).fill(0.2)): TrainState['optim'] => {
  let b1 = 1;
  let b2 = 1;
  for (let i = 0; i < t; i++) {
    b1 *= 0.9;
    b2 *= 0.999;
  }
  return { ...adam.createState(P), slots: { m, v }, scalars: { t, beta1Pow: b1, beta2Pow: b2 } };
};
const good = (): TrainState => ({
  step: 10, epoch: 1, cursor: 40, params: Float32Array.of(1, 2, 3, 4, 5, 6), optim: adamState(9),
});

describe('state checks', () => {
  it('passes a state of this run', () => {
    expect(checkState(good(), bounds)).toBeNull();
  });

  it('names what is wrong with a state this run cannot have', () => {
    const cases: [Partial<TrainState>, RegExp][] = [
      [{ step: 100_000 }, /beyond the 20 steps/],
      [{ step: -1 }, /not a step count/],
      [{ epoch: 99 }, /epoch 99 is outside/],
      [{ cursor: 1e9 }, /cursor 1000000000 is outside/],
      [{ epoch: 3, cursor: 5 }, /after the last epoch/],
      [{ params: new Float32Array(P + 1) }, /7 parameters where the model has 6/],
      [{ params: Float32Array.of(1, NaN, 3, 4, 5, 6) }, /parameter 1 is NaN/],
      [{ optim: adamState(9, Float32Array.of(0, 0, Infinity, 0, 0, 0)) }, /optimizer state: slot m holds a non-finite value/],
      [{ optim: adamState(9, undefined, Float32Array.of(0, 0, 0, -1, 0, 0)) }, /optimizer state: adam's second moment v\[3\] = -1 is negative/],
      [{ optim: adamState(11) }, /optimizer state: adam's step count t = 11 must be an integer in \[0, 10\]/],
      [{ optim: { ...adamState(9), scalars: { ...adamState(9).scalars, beta1Pow: 0.5 } } }, /beta powers/],
    ];
    for (const [change, why] of cases) expect(checkState({ ...good(), ...change }, bounds)).toMatch(why);
  });

  it('checks a state against the checksums every rank agreed on', () => {
    const st = good();
    const log = new ChecksumLog([[10, checksum(st.params)]]);
    expect(log.verdict(st)).toBe('agrees');
    expect(log.verdict({ ...st, params: new Float32Array(P).fill(1e6) })).toBe('differs');
    expect(log.verdict({ ...st, step: 11 })).toBe('unknown');
    expect(log.frontier).toBe(10);
    const small = new ChecksumLog([], 2);
    for (const s of [1, 2, 3]) small.record(s, 'x');
    expect(small.entries().map(([s]) => s)).toEqual([2, 3]);
  });
});

describe('report gate', () => {
  it('accepts each rank\'s reports in order, drops repeats, evicts a rank that reports ahead', () => {
    const g = new ReportGate(2, 5);
    expect(g.judge(0, 5)).toEqual({ action: 'accept' });
    expect(g.judge(0, 5)).toMatchObject({ action: 'drop' });
    expect(g.judge(1, 7)).toMatchObject({ action: 'evict', why: 'rank 1 reported step 7 before step 5' });
    expect(g.judge(1, 5)).toEqual({ action: 'accept' });
    expect(g.judge(2, 5)).toMatchObject({ action: 'evict' });
  });
});

describe('stall blame', () => {
  it('blames the ranks that did not report when others did', () => {
    expect(blameStall([2], [0, 0, 0], 2000)).toEqual({ culprits: [2], how: 'missing reports' });
  });
  it('blames the rank silent clearly longer than the others when none reported', () => {
    expect(blameStall(null, [10_000, 3_000, 9_500], 2000)).toEqual({ culprits: [1], how: 'oldest sign of life' });
    expect(blameStall([0, 1, 2], [10_000, 3_000, 9_500], 2000)).toEqual({ culprits: [1], how: 'oldest sign of life' });
  });
  it('blames nobody, never rank 0 by default, when all went quiet together', () => {
    expect(blameStall(null, [10_000, 9_000, 9_500], 2000)).toEqual({ culprits: [], how: 'none stands out' });
  });
});
