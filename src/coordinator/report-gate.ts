/**
 * Admission of step reports, per rank. An honest rank reports each step of a generation once, in
 * order, over one connection; anything else is a bug or an insider, and must cost that rank only:
 * a report of a step it already reported (a duplicate, or one for an already committed step) is
 * dropped; a report for a step ahead of its next one cannot come from an honest rank (it has not
 * computed that step) and evicts it. Decisions only: the run loop logs and acts.
 */

export type ReportVerdict = { action: 'accept' } | { action: 'drop'; why: string } | { action: 'evict'; why: string };

export class ReportGate {
  private readonly next: number[];

  /** `firstStep`: the step every rank of this generation starts from. */
  constructor(worldSize: number, firstStep: number) {
    this.next = new Array<number>(worldSize).fill(firstStep);
  }

  /** Judges rank `rank`'s report of `step`; an accepted report moves that rank on by one. */
  judge(rank: number, step: number): ReportVerdict {
    const want = this.next[rank];
    if (want === undefined) return { action: 'evict', why: `rank ${rank} is not in this generation` };
    if (step < want) return { action: 'drop', why: `rank ${rank} reported step ${step} again (its next is ${want})` };
    if (step > want) return { action: 'evict', why: `rank ${rank} reported step ${step} before step ${want}` };
    this.next[rank] = want + 1;
    return { action: 'accept' };
  }
}
