/**
 * An in-process collective: N ranks in one process sum through shared memory. It exists for tests
 * (many ranks, no sockets) and follows the same contract as the ring, including a deterministic
 * summation order so that every rank receives bit-identical results.
 */
import type { Collective } from '../../src/shared/collective/collective.js';
import { ErrorCodes, RingtrainError } from '../../src/shared/base/errors.js';

export function createLocalGroup(worldSize: number): Collective[] {
  let pending: (Float32Array | null)[] = new Array<Float32Array | null>(worldSize).fill(null);
  let waiters: (() => void)[] = [];
  const ranks: Collective[] = [];
  for (let rank = 0; rank < worldSize; rank++) {
    ranks.push({
      rank,
      worldSize,
      allreduceSum(buf: Float32Array): Promise<void> {
        if (pending[rank]) return Promise.reject(new RingtrainError(ErrorCodes.INTERNAL, `rank ${rank} entered allreduce twice`));
        pending[rank] = buf;
        return new Promise<void>((resolve, reject) => {
          waiters.push(resolve);
          if (waiters.length < worldSize) return;
          const bufs = pending;
          const wake = waiters;
          pending = new Array<Float32Array | null>(worldSize).fill(null);
          waiters = [];
          const len = bufs[0]!.length;
          if (bufs.some((b) => b!.length !== len)) {
            reject(new RingtrainError(ErrorCodes.RING_FAILED, 'ranks passed buffers of different lengths'));
            return;
          }
          const sum = new Float32Array(len);
          for (const b of bufs) for (let i = 0; i < len; i++) sum[i]! += b![i]!;
          for (const b of bufs) b!.set(sum);
          for (const w of wake) w();
        });
      },
      async close(): Promise<void> {},
    });
  }
  return ranks;
}
