/**
 * Cross-rank consistency at rendezvous: every rank's model must match the coordinator's (whose
 * initial weights every rank loads) and so each other's. A mismatch stops the run before the
 * first step, naming the ranks and the first difference, instead of failing later in a ring
 * frame-size error or, worse, training silently on mismatched layouts.
 */
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import type { ModelFingerprint, WeightSpec } from '../shared/protocol/protocol.js';

function showSpec(w: WeightSpec | undefined): string {
  return w ? `${w.name} [${w.shape.join(',')}] ${w.dtype}` : 'nothing';
}

/** The first difference between two fingerprints, or null when they match. */
export function firstDifference(a: ModelFingerprint, b: ModelFingerprint): string | null {
  const n = Math.max(a.weights.length, b.weights.length);
  for (let i = 0; i < n; i++) {
    const x = a.weights[i];
    const y = b.weights[i];
    if (!x || !y || x.name !== y.name || x.dtype !== y.dtype || x.shape.join(',') !== y.shape.join(',')) {
      return `weight ${i}: ${showSpec(x)} vs ${showSpec(y)}`;
    }
  }
  if (a.paramCount !== b.paramCount) return `parameter count ${a.paramCount} vs ${b.paramCount}`;
  if (a.architecture !== b.architecture) {
    return `layer classes or configuration (activation, units, initializers): architecture ${a.architecture} vs ${b.architecture}`;
  }
  return null;
}

/**
 * Throws RT_MODEL_MISMATCH unless every rank's fingerprint equals rank 0's and rank 0's equals
 * the coordinator's. `byRank[r]` is rank r's fingerprint.
 */
export function assertSameModel(reference: ModelFingerprint, byRank: readonly ModelFingerprint[]): void {
  const first = byRank[0];
  if (!first) return;
  for (let r = 1; r < byRank.length; r++) {
    const diff = firstDifference(first, byRank[r]!);
    if (diff !== null) throw new RingtrainError(ErrorCodes.MODEL_MISMATCH, `rank ${r}'s model differs from rank 0's (${diff} for rank 0 vs rank ${r}); start every worker with the same job`);
  }
  const diff = firstDifference(reference, first);
  if (diff !== null) throw new RingtrainError(ErrorCodes.MODEL_MISMATCH, `the workers' model (rank 0 and all others) differs from the coordinator's (${diff} for the coordinator vs rank 0); start the workers with the coordinator's job`);
}
