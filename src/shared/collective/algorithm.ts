/**
 * What an all-reduce algorithm is to RingCollective: one object per algorithm (ring, recursive
 * doubling, halving-doubling), started for a call and told when the call is over. The plan
 * (allreduce-plan.ts) decides which one runs; the algorithms never decide for each other.
 */
import type { FrameHeader } from '../protocol/codec.js';
import type { Logger } from '../base/logger.js';
import type { WireCodec } from './wire-codec.js';

/** One all-reduce call: the caller's buffer (reduced in place), its sequence number and encoding. */
export interface AllreduceCall {
  buf: Float32Array;
  seq: number;
  codec: WireCodec;
}

/** One all-reduce algorithm of one rank (see allreduce-plan.ts for when each runs). */
export interface AllreduceOp {
  /**
   * Runs `call`; `done` is called once (null on success). A failure that ends the collective goes
   * to CollectiveState.fail instead, which settles the call from outside.
   */
  start(call: AllreduceCall, done: (err: Error | null) => void): void;
  /** The call is over (done, failed or timed out): the algorithm forgets it. */
  forget(): void;
}

/** Sends one data frame; `done` fires once the transport holds no view of `payload` any more. */
export type SendFrame = (h: FrameHeader, payload: Uint8Array, done: (err?: Error) => void) => void;

/** A data frame whose payload was gathered into a buffer of its own. */
export interface DataFrame {
  header: FrameHeader;
  payload: Buffer;
}

/**
 * The collective's state that its algorithms read while routing frames: one object shared by
 * reference, so a frame's routing costs no call. Only RingCollective writes it.
 */
export interface CollectiveState {
  readonly rank: number;
  readonly worldSize: number;
  readonly generation: number;
  /** Elements per data frame. */
  readonly chunkElems: number;
  readonly log: Logger;
  /** The latest call's sequence number (0 before the first). */
  seq: number;
  /** A call is in progress. */
  busy: boolean;
  /** The error that ended the collective; frames are dropped from then on. */
  failure: Error | null;
  /** Ends the collective for good (a generation whose links broke is over). */
  fail(err: Error): void;
}
