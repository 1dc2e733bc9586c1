/**
 * Reference summation orders of the all-reduce algorithms, computed element by element over plain
 * arrays: what each algorithm must produce bit for bit (replicas' bit-identity rests on this order).
 */
import { f16ToF32, f32BitsToF16 } from '../../src/shared/collective/fp16.js';
import { segmentBounds } from '../../src/shared/kernels/flat.js';

const one = new Float32Array(1);
const oneBits = new Uint32Array(one.buffer);

/** `x` rounded to the nearest float16 (ties to even), as a float32. */
export function r16(x: number): number {
  one[0] = x;
  return f16ToF32(f32BitsToF16(oneBits[0]!));
}

/** What a value is once it has crossed the wire. */
export type Wire = (x: number) => number;
export const exactWire: Wire = (x) => Math.fround(x);
export const f16Wire: Wire = r16;

/** Real values over many magnitudes, different per rank (float sums depend on their order). */
export function realInputs(n: number, len: number, salt = 0): Float32Array[] {
  return Array.from({ length: n }, (_, r) => Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.37 + r * 1.7 + salt) * 10 ** ((i % 9) - 4) * (1 + ((i + r) % 5))));
}

/**
 * The pipelined ring: segment s is summed in ring order from rank s, ((x_s + x_s+1) + ...), each
 * partial sum crossing the wire before the next rank adds its own value; the finished sum crosses
 * the wire once more (its owner rounds its own copy too).
 */
export function ringReference(inputs: Float32Array[], wire: Wire): Float32Array {
  const n = inputs.length;
  const len = inputs[0]!.length;
  const out = new Float32Array(len);
  for (let s = 0; s < n; s++) {
    const seg = segmentBounds(len, n, s);
    for (let i = seg.start; i < seg.start + seg.length; i++) {
      let acc = inputs[s]![i]!;
      for (let k = 1; k < n; k++) acc = Math.fround(inputs[(s + k) % n]![i]! + wire(acc));
      out[i] = n > 1 ? wire(acc) : acc;
    }
  }
  return out;
}

/** The core of recursive doubling: the largest power of two ≤ n. */
export function coreOf(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/**
 * Recursive doubling: extra rank P+j first folds into rank j (its values cross the wire), then in
 * round k every core rank adds its partner's (rank XOR 2^k) values, both operands having crossed
 * the wire; the core ranks' final sums are rounded to the wire once more.
 */
export function doublingReference(inputs: Float32Array[], wire: Wire): Float32Array {
  const n = inputs.length;
  const len = inputs[0]!.length;
  const p = coreOf(n);
  const vals = inputs.slice(0, p).map((b) => Float32Array.from(b));
  for (let r = p; r < n; r++) for (let i = 0; i < len; i++) vals[r - p]![i] = Math.fround(vals[r - p]![i]! + wire(inputs[r]![i]!));
  for (let bit = 1; bit < p; bit *= 2) {
    const sent = vals.map((v) => v.map((x) => wire(x)));
    for (let c = 0; c < p; c++) for (let i = 0; i < len; i++) vals[c]![i] = Math.fround(sent[c]![i]! + sent[c ^ bit]![i]!);
  }
  return n > 1 ? vals[0]!.map((x) => wire(x)) : vals[0]!;
}

/**
 * Recursive halving-doubling: after folding, round k halves each core rank's range (the lower rank
 * of a pair keeps the lower half) and the keeper adds its partner's values of the kept half, which
 * crossed the wire; each element is summed by the one rank that keeps it to the end, and its final
 * value crosses the wire to all others (the keeper rounds its own copy too).
 */
export function halvingDoublingReference(inputs: Float32Array[], wire: Wire): Float32Array {
  const n = inputs.length;
  const len = inputs[0]!.length;
  const p = coreOf(n);
  if (n === 1) return Float32Array.from(inputs[0]!);
  const vals = inputs.slice(0, p).map((b) => Float32Array.from(b));
  for (let r = p; r < n; r++) for (let i = 0; i < len; i++) vals[r - p]![i] = Math.fround(vals[r - p]![i]! + wire(inputs[r]![i]!));
  const ranges = vals.map(() => ({ start: 0, length: len }));
  for (let bit = 1; bit < p; bit *= 2) {
    const before = vals.map((v) => Float32Array.from(v));
    for (let c = 0; c < p; c++) {
      const range = ranges[c]!;
      const lower = segmentBounds(range.length, 2, 0).length;
      const keep = c < (c ^ bit) ? { start: range.start, length: lower } : { start: range.start + lower, length: range.length - lower };
      for (let i = keep.start; i < keep.start + keep.length; i++) vals[c]![i] = Math.fround(before[c]![i]! + wire(before[c ^ bit]![i]!));
      ranges[c] = keep;
    }
  }
  const out = new Float32Array(len);
  for (let c = 0; c < p; c++) for (let i = ranges[c]!.start; i < ranges[c]!.start + ranges[c]!.length; i++) out[i] = wire(vals[c]![i]!);
  return out;
}

/** Index of the first element whose bits differ, or -1. */
export function firstBitDifference(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}
