/**
 * Sample accounting across faults: counts, per epoch and per position of the epoch's order, how
 * many times each sample went into an applied step. The cursor design guarantees once; this
 * proves it at run end (duplicates and misses are reported in the summary).
 */
import type { PlannedStep, Position } from '../shared/data/sampler.js';

export interface AccountingReport {
  samplesPerEpoch: number[];
  duplicateSamples: number;
  missingSamples: number;
}

export class SampleAccounting {
  private readonly counts: Uint8Array[] = [];

  constructor(private readonly datasetSize: number) {}

  private epoch(e: number): Uint8Array {
    while (this.counts.length <= e) this.counts.push(new Uint8Array(this.datasetSize));
    return this.counts[e]!;
  }

  /** Positions [begin, end) of epoch `e` were trained once more. */
  mark(e: number, begin: number, end: number): void {
    const c = this.epoch(e);
    for (let i = begin; i < end; i++) c[i] = Math.min(255, c[i]! + 1);
  }

  /** Report over the first `epochs` epochs. */
  report(epochs: number): AccountingReport {
    let duplicateSamples = 0;
    let missingSamples = 0;
    const samplesPerEpoch: number[] = [];
    for (let e = 0; e < epochs; e++) {
      const c = this.epoch(e);
      let total = 0;
      for (const k of c) {
        total += k;
        if (k === 0) missingSamples++;
        if (k > 1) duplicateSamples += k - 1;
      }
      samplesPerEpoch.push(total);
    }
    return { samplesPerEpoch, duplicateSamples, missingSamples };
  }
}

/**
 * The steps this coordinator planned and how far their samples are accounted. A step is accounted
 * once its update is in the state everyone continues from (committed, or adopted from a survivor
 * that applied it); a state trained under a previous coordinator only tells where the sampler
 * stood, so its gap is marked as trained once.
 */
export class StepLedger {
  readonly planned = new Map<number, PlannedStep>();
  readonly accounting: SampleAccounting;
  /** Steps whose samples are accounted (the next one to account). */
  private accountedUpTo: number;
  /** Steps batches were sent for: no honest state can have applied more. */
  plannedUpTo: number;
  samplesTrained = 0;

  constructor(private readonly dataSize: number, private readonly epochs: number, start: Position) {
    this.accounting = new SampleAccounting(dataSize);
    this.accountedUpTo = start.step;
    this.plannedUpTo = start.step;
    // What the checkpoint says was trained before it (assumed once each).
    this.markGap({ step: 0, epoch: 0, cursor: 0 }, start);
  }

  /** Marks every position from `from` up to `to` as trained once. */
  private markGap(from: Position, to: Position): void {
    for (let e = from.epoch; e <= to.epoch && e < this.epochs; e++) {
      const begin = e === from.epoch ? from.cursor : 0;
      const end = e === to.epoch ? to.cursor : this.dataSize;
      if (end > begin) this.accounting.mark(e, begin, end);
    }
  }

  /** A step was sent to every rank. */
  plan(p: PlannedStep): void {
    this.planned.set(p.step, p);
    this.plannedUpTo = Math.max(this.plannedUpTo, p.next.step);
  }

  /** Forgets what was planned from `step` on (re-planned for the next generation's world size). */
  forgetFrom(step: number): void {
    for (const s of [...this.planned.keys()]) if (s >= step) this.planned.delete(s);
  }

  /** Step `step` (planned here) is in the state everyone continues from. */
  account(step: number): void {
    if (step < this.accountedUpTo) return;
    const p = this.planned.get(step)!;
    this.accounting.mark(p.epoch, p.begin, p.end);
    this.samplesTrained += p.end - p.begin;
    this.accountedUpTo = step + 1;
  }

  /** The state everyone continues from moves from `old` to `next`: account the steps between. */
  adopt(old: Position, next: Position): void {
    for (let s = this.accountedUpTo; s < next.step; s++) {
      if (!this.planned.has(s)) {
        this.markGap(old, next);
        this.accountedUpTo = next.step;
        break;
      }
      this.account(s);
    }
  }
}
