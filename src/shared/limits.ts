/**
 * Message size limits sized from the job, so a peer cannot make a process buffer more than the
 * largest legitimate message plus a small envelope.
 */
import { Defaults } from './constants.js';

/**
 * Largest message a worker legitimately sends the coordinator: the full weights (rank 0 at an
 * epoch's end), which dwarf every other worker message (fingerprints are bounded by the guards).
 */
export function coordinatorInboundLimit(paramCount: number): number {
  return Math.min(Defaults.maxControlPayloadBytes, paramCount * 4 + Defaults.controlEnvelopeBytes);
}
