import { describe, expect, it } from 'vitest';
import { endsEpoch, epochOrder, planStep, rankShare, type Position } from '../../src/shared/data/sampler.js';

/** Indices trained by each step when following the plan, with the world size per step given by `world`. */
function run(size: number, batch: number, epochs: number, seed: number, world: (step: number) => number): { epoch: number; step: number[] }[] {
  const out: { epoch: number; step: number[] }[] = [];
  let pos: Position = { step: 0, epoch: 0, cursor: 0 };
  for (;;) {
    const p = planStep(pos, size, batch, world(pos.step), epochs);
    if (!p) return out;
    const order = epochOrder(size, seed, p.epoch);
    const step: number[] = [];
    for (let r = 0; r < p.worldSize; r++) {
      const s = rankShare(p, r);
      step.push(...order.subarray(s.start, s.start + s.length));
    }
    out.push({ epoch: p.epoch, step });
    pos = p.next;
  }
}

function perEpoch(steps: { epoch: number; step: number[] }[], epochs: number): number[][] {
  return Array.from({ length: epochs }, (_, e) => steps.filter((s) => s.epoch === e).flatMap((s) => s.step));
}

describe('distributed sampler', () => {
  it.each([
    { size: 1000, batch: 32, world: 4 },
    { size: 1001, batch: 7, world: 3 },
    { size: 5, batch: 4, world: 8 },
    { size: 64, batch: 8, world: 1 },
  ])('uses every index exactly once per epoch across ranks ($size samples, $world ranks)', ({ size, batch, world }) => {
    for (const idx of perEpoch(run(size, batch, 2, 1, () => world), 2)) {
      expect(idx.length).toBe(size);
      expect(new Set(idx).size).toBe(size);
      expect(Math.min(...idx)).toBe(0);
      expect(Math.max(...idx)).toBe(size - 1);
    }
  });

  it('keeps exactly-once when the world size changes mid-epoch (workers lost and joined)', () => {
    const world = (step: number): number => [4, 4, 3, 3, 2, 5, 5, 1][step % 8]!;
    for (const idx of perEpoch(run(997, 16, 3, 5, world), 3)) {
      expect(idx.length).toBe(997);
      expect(new Set(idx).size).toBe(997);
    }
  });

  it('gives a different order each epoch and the same order for the same seed', () => {
    const e0 = Array.from(epochOrder(500, 42, 0));
    expect(Array.from(epochOrder(500, 42, 1))).not.toEqual(e0);
    expect(Array.from(epochOrder(500, 42, 0))).toEqual(e0);
    expect(Array.from(epochOrder(500, 43, 0))).not.toEqual(e0);
  });

  it('global batches do not depend on how they are split across ranks', () => {
    const three = run(100, 8, 1, 9, () => 3).map((s) => s.step);
    const one = run(100, 24, 1, 9, () => 1).map((s) => s.step);
    expect(three).toEqual(one);
  });

  it('splits a short last batch as evenly as possible and marks the epoch end', () => {
    const p = planStep({ step: 0, epoch: 0, cursor: 0 }, 10, 4, 3, 1)!;
    expect([0, 1, 2].map((r) => rankShare(p, r).length)).toEqual([4, 3, 3]);
    expect(endsEpoch(p)).toBe(true);
    expect(p.next).toEqual({ step: 1, epoch: 1, cursor: 0 });
    expect(planStep(p.next, 10, 4, 3, 1)).toBeNull();
  });
});
