/**
 * What a rank's model looks like, for the cross-rank check before training: every trainable
 * weight's name, shape and dtype, in flat-buffer order, and the parameter count. tfjs numbers
 * auto-generated layer names per process ("dense_Dense3/kernel" in a process that built two
 * models before), so the trailing counters are dropped: only structure is compared.
 */
import type { Trainer } from './trainer.js';
import type { ModelFingerprint } from '../shared/protocol.js';

/** Removes the per-process counter tfjs appends to each name segment. */
export function canonicalWeightName(name: string): string {
  return name.split('/').map((seg) => seg.replace(/_?\d+$/, '')).join('/');
}

export function modelFingerprint(trainer: Trainer): ModelFingerprint {
  return {
    paramCount: trainer.paramCount,
    weights: trainer.params.map((p) => ({ name: canonicalWeightName(p.name), shape: p.shape.slice(), dtype: p.dtype })),
  };
}
