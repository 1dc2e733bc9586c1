/** Test inputs for the flat-buffer kernels: seeded values that reach the corners of float32. */

export interface SpreadShape {
  /** Share of exact zeros, of negative zeros and of subnormals; the rest spans `decades`. */
  zeros: number;
  negativeZeros: number;
  subnormals: number;
  /** Magnitudes 10^lo .. 10^hi. */
  decades: readonly [number, number];
}

/** n values across many magnitudes and signs, with the shares of special values `shape` asks for. */
export function spread(n: number, seed: number, shape: SpreadShape): Float32Array {
  let s = seed >>> 0;
  const next = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const [lo, hi] = shape.decades;
  return new Float32Array(n).map(() => {
    const r = next();
    if (r < shape.zeros) return 0;
    if (r < shape.zeros + shape.negativeZeros) return -0;
    if (r < shape.zeros + shape.negativeZeros + shape.subnormals) return (next() - 0.5) * 2e-39;
    return (next() - 0.5) * 10 ** (next() * (hi - lo) + lo);
  });
}

/** The bytes of a float array, for bit-for-bit comparisons. */
export const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
