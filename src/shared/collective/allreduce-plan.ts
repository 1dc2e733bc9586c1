/**
 * Pure planning for the collectives: which algorithm an all-reduce of a given size uses, and the
 * exchange partners of recursive doubling. No I/O, so every rank computes the same plan from the
 * same inputs, and tests check it without sockets. The algorithms themselves live one per file
 * (ring-allreduce.ts, recursive-doubling.ts, halving-doubling.ts).
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

/** Rank `rank`'s part in recursive doubling over `n` ranks (the same on every rank). */
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

/** What the choice of algorithm depends on: the same on every rank for the same call. */
export interface PlanQuery {
  choice: AlgorithmChoice;
  /** The buffer's size in bytes (float32). */
  bytes: number;
  /** World size. */
  n: number;
  limits: { smallMaxBytes: number; midMaxBytes: number };
  /** The mesh links exist (recursive doubling and halving-doubling need them). */
  meshReady: boolean;
}

const powerOfTwo = (n: number): boolean => (n & (n - 1)) === 0;
const meshUsable = (q: PlanQuery): boolean => q.n >= 2 && q.meshReady;

/**
 * Every algorithm with the condition under which it runs, in order of preference: the first
 * enabled one wins (as Horovod's operation manager picks among its operations). Recursive doubling
 * runs while the buffer is small enough that latency dominates (≤ smallMaxBytes), and for N = 2
 * up to midMaxBytes, where it moves the same bytes as halving-doubling in one round instead of
 * two. Halving-doubling runs up to midMaxBytes when N is a power of two (the ring's bytes in
 * 2·log2 N rounds instead of 2(N-1) hops, so fewer latencies). The ring takes everything else:
 * for large buffers it wins on bandwidth-bound links because it never waits at a round boundary,
 * and for N not a power of two halving-doubling would send the whole buffer twice more to fold
 * extra ranks in.
 */
export const ALLREDUCE_PLAN: readonly { algorithm: AllreduceAlgorithm; enabled(q: PlanQuery): boolean }[] = [
  {
    algorithm: 'rd',
    enabled: (q) => meshUsable(q) && (q.choice === 'rd' || (q.choice === 'auto' && (q.bytes <= q.limits.smallMaxBytes || (q.n === 2 && q.bytes <= q.limits.midMaxBytes)))),
  },
  {
    algorithm: 'hd',
    enabled: (q) => meshUsable(q) && (q.choice === 'hd' || (q.choice === 'auto' && q.bytes <= q.limits.midMaxBytes && powerOfTwo(q.n))),
  },
  { algorithm: 'ring', enabled: () => true },
];

/** The algorithm for an all-reduce of `bytes` over `n` ranks: the first enabled in ALLREDUCE_PLAN. */
export function chooseAlgorithm(choice: AlgorithmChoice, bytes: number, n: number, limits: { smallMaxBytes: number; midMaxBytes: number }, meshReady: boolean): AllreduceAlgorithm {
  const q: PlanQuery = { choice, bytes, n, limits, meshReady };
  return ALLREDUCE_PLAN.find((a) => a.enabled(q))!.algorithm;
}
