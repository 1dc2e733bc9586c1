/**
 * Reading a tensor in place on the wasm engine, through its private internals: saves the
 * per-variable allocation and copy that data() makes every step (bench:engines `readback` lines
 * show the gain). Only ever read: weights still go in through tensors, because writing new weights
 * into a variable's heap memory gave stale evaluations.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Tfjs } from '../jobs/job.js';

/** The parts of the wasm engine's internals that reading a tensor in place needs. */
interface WasmInternals {
  dataIdMap?: { get(id: object): { memoryOffset?: number | null; dtype?: string } | undefined };
  wasm?: { HEAPF32?: Float32Array };
}

/**
 * On the wasm engine a float32 tensor's values sit in the engine's heap: returns a view of them,
 * to be copied out at once (before any other engine call, which could grow and so detach the heap).
 * Null on any other engine, or when the internals are not as expected: the caller then reads
 * through data().
 */
export function wasmHeapView(tf: Tfjs, t: TF.Tensor): Float32Array | null {
  if (t.dtype !== 'float32' || tf.getBackend() !== 'wasm') return null;
  const b = tf.backend() as unknown as WasmInternals;
  const e = b.dataIdMap?.get(t.dataId);
  const heap = b.wasm?.HEAPF32;
  if (!e || !heap || e.dtype !== 'float32' || typeof e.memoryOffset !== 'number' || e.memoryOffset % 4 !== 0) return null;
  const start = e.memoryOffset / 4;
  if (start + t.size > heap.length) return null;
  return heap.subarray(start, start + t.size);
}
