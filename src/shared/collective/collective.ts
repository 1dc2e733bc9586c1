/**
 * The collective interface the trainer talks to. The ring over WebSockets is the production
 * implementation; an in-process group serves tests that need many ranks without sockets. Both
 * must pass the same contract tests (tests/unit/collective-contract.test.ts).
 */
export interface Collective {
  readonly rank: number;
  readonly worldSize: number;
  /**
   * Replaces `buf` on every rank with the element-wise sum over ranks. Same length on all ranks.
   * `exact`: never compress this call (counts and loss sums must not be rounded to fp16).
   */
  allreduceSum(buf: Float32Array, opts?: { exact?: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** The trivial collective of a world of one. */
export class SoloCollective implements Collective {
  readonly rank = 0;
  readonly worldSize = 1;
  async allreduceSum(): Promise<void> {}
  async close(): Promise<void> {}
}
