/**
 * Sample accounting across faults: counts, per epoch and per position of the epoch's order, how
 * many times each sample went into an applied step. The cursor design guarantees once; this
 * proves it at run end (duplicates and misses are reported in the summary).
 */
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
