/**
 * Pure helpers on a training split that both ends of the control link use: the coordinator cuts
 * streamed batches with `gatherRows`, and a worker that holds the data itself cuts the same rows
 * from indices with the same function, so both paths feed the trainer identical bytes.
 * `datasetFingerprint` is how the two find out that they hold the same data.
 */
import type { Dataset } from '../job/job.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { checksum } from '../kernels/flat.js';

/** Scalars per row of a split: input values (x) and target values (y). */
export interface RowWidths {
  input: number;
  output: number;
}

/**
 * Rows `indices` of `data`, copied into fresh row-major x and y buffers in index order. Indices
 * may come off the wire (a worker gathering its own batch), so every one is checked before any
 * copy: an index outside the split is RT_BAD_MESSAGE, never a read past the end.
 */
export function gatherRows(data: Dataset, w: RowWidths, indices: Uint32Array): { x: Float32Array; y: Float32Array } {
  for (const src of indices) {
    if (src >= data.size) throw new RingtrainError(ErrorCodes.BAD_MESSAGE, `batch index ${src} is outside the ${data.size}-sample training set`);
  }
  const { input: a, output: k } = w;
  const x = new Float32Array(indices.length * a);
  const y = new Float32Array(indices.length * k);
  indices.forEach((src, i) => {
    x.set(data.x.subarray(src * a, (src + 1) * a), i * a);
    y.set(data.y.subarray(src * k, (src + 1) * k), i * k);
  });
  return { x, y };
}

/** True when x and y hold exactly `size` rows of the given widths (a job's data is user code). */
export function hasShape(data: Dataset, w: RowWidths): boolean {
  return Number.isInteger(data.size) && data.size >= 0 && data.x instanceof Float32Array && data.y instanceof Float32Array
    && data.x.length === data.size * w.input && data.y.length === data.size * w.output;
}

/**
 * Identity of a training split: its size, row widths and the exact bytes of x and y (the replica
 * checksum of each buffer). Two holders agree only when every sample is bit-identical, which is
 * what gathering from local data instead of receiving streamed rows must not change.
 */
export function datasetFingerprint(data: Dataset, w: RowWidths): string {
  return `${data.size}x${w.input}+${w.output}:${checksum(data.x)}:${checksum(data.y)}`;
}
