/**
 * Distributed sampling, as torch's DistributedSampler does it but without padding, and with the
 * position kept as a cursor. Each epoch has one seeded order of the training set; a step consumes
 * the next `batchSize × worldSize` positions of it and rank r takes a contiguous share (the short
 * last batch is split as evenly as possible, so some ranks may get none). Every sample is used
 * exactly once per epoch, and because the position is a cursor rather than a step index, the world
 * size can change between any two steps (a worker lost or joined) without skipping or repeating
 * a sample within the epoch.
 */
import { segmentBounds, type Span } from '../kernels/flat.js';
import { mixSeed, permutation } from '../base/rng.js';

/** The order of the training set for one epoch; the same for the same (seed, epoch). */
export function epochOrder(datasetSize: number, seed: number, epoch: number): Uint32Array {
  return permutation(datasetSize, mixSeed(seed, epoch));
}

export interface Position {
  step: number;
  epoch: number;
  cursor: number;
}

export interface PlannedStep {
  step: number;
  epoch: number;
  /** Positions [begin, end) of the epoch's order trained by this step. */
  begin: number;
  end: number;
  worldSize: number;
  /** Position after the step (start of the next epoch when this one is used up). */
  next: Position;
}

/** The step that follows `pos` for `worldSize` ranks; null when `epochs` are done. */
export function planStep(pos: Position, datasetSize: number, batchSize: number, worldSize: number, epochs: number): PlannedStep | null {
  if (pos.epoch >= epochs || datasetSize === 0) return null;
  const begin = pos.cursor;
  const end = Math.min(begin + batchSize * worldSize, datasetSize);
  const next = end === datasetSize ? { step: pos.step + 1, epoch: pos.epoch + 1, cursor: 0 } : { step: pos.step + 1, epoch: pos.epoch, cursor: end };
  return { step: pos.step, epoch: pos.epoch, begin, end, worldSize, next };
}

/** Rank `rank`'s positions within a planned step: contiguous, as even as possible. */
export function rankShare(p: PlannedStep, rank: number): Span {
  const s = segmentBounds(p.end - p.begin, p.worldSize, rank);
  return { start: p.begin + s.start, length: s.length };
}

/** True when the step uses up its epoch (evaluate and checkpoint after it). */
export function endsEpoch(p: PlannedStep): boolean {
  return p.next.epoch !== p.epoch;
}
