import { describe, expect, it } from 'vitest';
import { ALLREDUCE_PLAN, chooseAlgorithm, doublingPeers, doublingPlan, type AlgorithmChoice } from '../../src/shared/collective/allreduce-plan.js';

describe('recursive doubling plan', () => {
  it.each([1, 2, 3, 5, 6, 7, 8, 12, 13])('N=%i: partners are mutual, folds pair up, every rank takes part', (n) => {
    const plans = Array.from({ length: n }, (_, r) => doublingPlan(r, n));
    const core = plans[0]!.core;
    expect(core & (core - 1)).toBe(0);
    expect(core <= n && core * 2 > n).toBe(true);
    plans.forEach((p, r) => {
      expect(p.rounds).toBe(Math.log2(core));
      if (r >= core) {
        expect(p.partners).toEqual([]);
        expect(plans[p.foldInto!]!.foldFrom).toBe(r);
      } else {
        expect(p.partners.length).toBe(p.rounds);
        p.partners.forEach((q, k) => expect(plans[q]!.partners[k]).toBe(r));
        if (p.foldFrom !== null) expect(plans[p.foldFrom]!.foldInto).toBe(r);
      }
      for (const q of doublingPeers(r, n)) expect(doublingPeers(q, n)).toContain(r);
    });
  });

  it('chooses by size: doubling when small, halving-doubling when mid-sized and N is a power of two, else the ring', () => {
    const lim = { smallMaxBytes: 4096, midMaxBytes: 65536 };
    expect(chooseAlgorithm('auto', 1024, 4, lim, true)).toBe('rd');
    expect(chooseAlgorithm('auto', 8192, 4, lim, true)).toBe('hd');
    expect(chooseAlgorithm('auto', 8192, 5, lim, true)).toBe('ring');
    expect(chooseAlgorithm('auto', 8192, 2, lim, true)).toBe('rd');
    expect(chooseAlgorithm('auto', 1 << 20, 2, lim, true)).toBe('ring');
    expect(chooseAlgorithm('auto', 1 << 20, 4, lim, true)).toBe('ring');
    expect(chooseAlgorithm('auto', 1024, 1, lim, true)).toBe('ring');
    expect(chooseAlgorithm('auto', 1024, 4, lim, false)).toBe('ring');
    expect(chooseAlgorithm('rd', 1 << 30, 4, lim, true)).toBe('rd');
    expect(chooseAlgorithm('ring', 4, 4, lim, true)).toBe('ring');
  });

  it('lists every algorithm once with the ring last and always enabled, so every query has an answer', () => {
    expect(ALLREDUCE_PLAN.map((a) => a.algorithm)).toEqual(['rd', 'hd', 'ring']);
    const lim = { smallMaxBytes: 4096, midMaxBytes: 65536 };
    for (const choice of ['auto', 'ring', 'rd', 'hd'] as AlgorithmChoice[]) {
      for (const n of [1, 2, 3, 4, 5, 8, 12, 16]) {
        for (const bytes of [0, 4, 4096, 4100, 65536, 65540, 1 << 24]) {
          for (const meshReady of [true, false]) {
            const got = chooseAlgorithm(choice, bytes, n, lim, meshReady);
            // Without mesh links, or alone, only the ring can run; an explicit choice is kept otherwise.
            if (!meshReady || n < 2) expect(got).toBe('ring');
            else if (choice !== 'auto') expect(got).toBe(choice);
            else expect(got).toBe(bytes <= 4096 || (n === 2 && bytes <= 65536) ? 'rd' : bytes <= 65536 && (n & (n - 1)) === 0 ? 'hd' : 'ring');
          }
        }
      }
    }
  });
});
