/**
 * Pure helpers on a training split that both ends of the control link use: the coordinator cuts
 * streamed batches with `gatherRows`, and a worker that holds the data itself cuts the same rows
 * from indices with the same function, so both paths feed the trainer identical bytes.
 * `datasetFingerprint` is how the two find out that they hold the same data. A split is a set of
 * named tensors (a v1 job's are `x` and `y`), each `size` rows of fixed width.
 */
import type { Rows, Split, TensorArray } from '../job/job.js';
import type { TensorSpec } from '../job/spec.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { checksum } from '../kernels/flat.js';

/** What the gather needs of a tensor: its name, dtype and values per row. */
export type RowLayout = readonly Pick<TensorSpec, 'name' | 'dtype' | 'elements'>[];

function arrayOf(dtype: TensorSpec['dtype'], n: number): TensorArray {
  return dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
}

/**
 * Rows `indices` of every tensor of `layout`, copied into fresh row-major buffers in index order.
 * Indices may come off the wire (a worker gathering its own batch), so every one is checked
 * before any copy: an index outside the split is RT_BAD_MESSAGE, never a read past the end.
 */
export function gatherRows(data: Split, layout: RowLayout, indices: Uint32Array): Rows {
  for (const src of indices) {
    if (src >= data.size) throw new RingtrainError(ErrorCodes.BAD_MESSAGE, `batch index ${src} is outside the ${data.size}-sample training set`);
  }
  const out: Rows = {};
  for (const t of layout) {
    const from = data.tensors[t.name]!;
    const to = arrayOf(t.dtype, indices.length * t.elements);
    const k = t.elements;
    if (k === 1) indices.forEach((src, i) => (to[i] = from[src]!));
    else indices.forEach((src, i) => to.set(from.subarray(src * k, (src + 1) * k), i * k));
    out[t.name] = to;
  }
  return out;
}

/** True when `a` is a typed array of `dtype` holding exactly `n` values. */
function fits(a: unknown, dtype: TensorSpec['dtype'], n: number): boolean {
  return (dtype === 'int32' ? a instanceof Int32Array : a instanceof Float32Array) && (a as TensorArray).length === n;
}

/** True when every tensor of `layout` is present, of its dtype, with exactly `size` rows. */
export function hasShape(data: Split, layout: RowLayout): boolean {
  if (!Number.isInteger(data.size) || data.size < 0 || typeof data.tensors !== 'object' || data.tensors === null) return false;
  return layout.every((t) => fits(data.tensors[t.name], t.dtype, data.size * t.elements));
}

/**
 * Streamed rows checked against the layout before a step uses them: every tensor present, of its
 * dtype and `count` rows long (RT_BAD_MESSAGE otherwise, before any training state changes).
 */
export function checkRows(rows: Rows, layout: RowLayout, count: number): Rows {
  for (const t of layout) {
    if (!fits(rows[t.name], t.dtype, count * t.elements)) throw new RingtrainError(ErrorCodes.BAD_MESSAGE, `batch tensor ${t.name} must be ${t.dtype} with ${count} × ${t.elements} values`);
  }
  return rows;
}

/** The bytes of a typed array as float32 lanes, for the byte-exact checksum. */
function bytesOf(a: TensorArray): Float32Array {
  return a instanceof Float32Array ? a : new Float32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Identity of a training split: its size and, per tensor, name, dtype, width and exact bytes.
 * Two holders agree only when every sample is bit-identical, which is what gathering from local
 * data instead of receiving streamed rows must not change. A v1 split keeps its earlier form
 * (`size x input + output : x hash : y hash`).
 */
export function datasetFingerprint(data: Split, layout: RowLayout): string {
  const [a, b] = layout;
  if (layout.length === 2 && a!.name === 'x' && b!.name === 'y' && a!.dtype === 'float32' && b!.dtype === 'float32') {
    return `${data.size}x${a!.elements}+${b!.elements}:${checksum(bytesOf(data.tensors['x']!))}:${checksum(bytesOf(data.tensors['y']!))}`;
  }
  return `${data.size}|${layout.map((t) => `${t.name}:${t.dtype}:${t.elements}:${checksum(bytesOf(data.tensors[t.name]!))}`).join('|')}`;
}
