import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The flat float32 weights a run saved (weights.bin of its Layers-format model). */
export function savedWeights(dir: string): Float32Array {
  const b = readFileSync(join(dir, 'weights.bin'));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}
