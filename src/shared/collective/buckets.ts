/**
 * Gradient buckets for overlapping communication with compute: the fusion buffer is cut at
 * variable boundaries into buckets of at least `bucketElems` values, in variable order, so a
 * bucket can be all-reduced as soon as all of its variables have been read back from the engine.
 * Every rank derives the same buckets from the same model, so they all issue the same sequence
 * of all-reduces.
 */

export interface Bucket {
  start: number;
  length: number;
  /** Variables [firstVar, endVar) lie in this bucket. */
  firstVar: number;
  endVar: number;
  /** Reduce without compression (the bucket holding only the loss sum and sample count). */
  exact: boolean;
}

/**
 * `sizes`: element count of each variable, in fusion-buffer order. `exactLast`: the last variable
 * gets a bucket of its own that is never compressed.
 */
export function planBuckets(sizes: readonly number[], bucketElems: number, exactLast = false): Bucket[] {
  const out: Bucket[] = [];
  let start = 0;
  let first = 0;
  let length = 0;
  sizes.forEach((size, i) => {
    length += size;
    const cutBeforeLast = exactLast && i === sizes.length - 2;
    if (length >= bucketElems || i === sizes.length - 1 || cutBeforeLast) {
      out.push({ start, length, firstVar: first, endVar: i + 1, exact: exactLast && i === sizes.length - 1 });
      start += length;
      first = i + 1;
      length = 0;
    }
  });
  return out;
}

/** How much of the communication overlapped compute, from the times of one step. */
export function hiddenCommMs(commBusyMs: number, exposedMs: number): number {
  return Math.max(0, commBusyMs - exposedMs);
}
