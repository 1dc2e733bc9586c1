/**
 * Link failures that name the peer at the link's other end: the coordinator weighs these reports
 * to decide whom to drop when two workers cannot reach each other (coordinator/ring-blame.ts).
 */
import { ErrorCodes, RingtrainError, toRingtrainError, type ErrorCode } from '../base/errors.js';
import type { RingPeer } from '../protocol/protocol.js';

/** A failure of one link, naming the peer at its other end and the link's place in the ring. */
export class RingPeerError extends RingtrainError {
  constructor(code: ErrorCode, message: string, readonly peer: RingPeer) {
    super(code, message);
  }
}

/** `err` as a RingPeerError naming `peer` (an error that already names one keeps it). */
export function blamePeer(err: unknown, peer: RingPeer): RingPeerError {
  if (err instanceof RingPeerError) return err;
  const e = toRingtrainError(err, ErrorCodes.RING_FAILED);
  return new RingPeerError(e.code, e.message, peer);
}
