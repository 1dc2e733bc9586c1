/**
 * Pure planning for the collectives: which algorithm an all-reduce of a given size uses, and the
 * exchange partners of recursive doubling. No I/O, so every rank computes the same plan from the
 * same inputs, and tests check it without sockets.
 */

/** ring: pipelined ring; rd: recursive doubling; hd: recursive halving-doubling (Rabenseifner). */
export type AllreduceAlgorithm = 'ring' | 'rd' | 'hd';
export type AlgorithmChoice = 'auto' | AllreduceAlgorithm;

/**
 * Recursive doubling for any N: with P the largest power of two ≤ N, each "extra" rank r ≥ P first
 * folds its buffer into rank r-P, the P core ranks run log2(P) pairwise exchange rounds (partner
 * rank XOR 2^k), and each core rank with an extra partner hands it the result.
 */
export interface DoublingPlan {
  core: number;
  /** Exchange rounds among the core ranks: log2(core). */
  rounds: number;
  /** For an extra rank: the core rank it folds into and receives the result from. */
  foldInto: number | null;
  /** For a core rank with an extra partner: that partner. */
  foldFrom: number | null;
  /** Exchange partners of the rounds, in order; empty for an extra rank. */
  partners: number[];
}

export function doublingPlan(rank: number, n: number): DoublingPlan {
  let core = 1;
  let rounds = 0;
  while (core * 2 <= n) {
    core *= 2;
    rounds++;
  }
  if (rank >= core) return { core, rounds, foldInto: rank - core, foldFrom: null, partners: [] };
  const partners: number[] = [];
  for (let bit = 1; bit < core; bit *= 2) partners.push(rank ^ bit);
  return { core, rounds, foldInto: null, foldFrom: rank + core < n ? rank + core : null, partners };
}

/** Every rank this rank exchanges with under recursive doubling (the mesh links it needs). */
export function doublingPeers(rank: number, n: number): number[] {
  const p = doublingPlan(rank, n);
  return [...(p.foldInto !== null ? [p.foldInto] : []), ...(p.foldFrom !== null ? [p.foldFrom] : []), ...p.partners];
}

/**
 * The algorithm for an all-reduce of `bytes` over `n` ranks (given the mesh links exist):
 * recursive doubling while the buffer is small enough that latency dominates (≤ smallMaxBytes);
 * up to midMaxBytes, halving-doubling when N is a power of two (the ring's bytes in 2·log2 N
 * rounds instead of 2(N-1) hops, so fewer latencies), except for N = 2, where recursive doubling
 * moves the same bytes in one round instead of two; the ring otherwise. For large buffers the
 * ring wins on bandwidth-bound links because it never waits at a round boundary, and for N not a
 * power of two halving-doubling would send the whole buffer twice more to fold extra ranks in.
 */
export function chooseAlgorithm(choice: AlgorithmChoice, bytes: number, n: number, limits: { smallMaxBytes: number; midMaxBytes: number }, meshReady: boolean): AllreduceAlgorithm {
  if (n < 2 || !meshReady) return 'ring';
  if (choice !== 'auto') return choice;
  if (bytes <= limits.smallMaxBytes) return 'rd';
  if (bytes <= limits.midMaxBytes && (n & (n - 1)) === 0) return n === 2 ? 'rd' : 'hd';
  return 'ring';
}
