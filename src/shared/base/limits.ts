/**
 * Message size limits sized from the job, so a peer cannot make a process buffer more than the
 * largest legitimate message plus a small envelope.
 */
import { Defaults } from './constants.js';

/**
 * Largest message a worker legitimately sends the coordinator: its full training state (weights
 * and both Adam moments: rank 0 at checkpoints, survivors when membership changes), which dwarfs
 * every other worker message (fingerprints are bounded by the guards).
 */
export function coordinatorInboundLimit(paramCount: number): number {
  return Math.min(Defaults.maxControlPayloadBytes, paramCount * 3 * 4 + Defaults.controlEnvelopeBytes);
}
