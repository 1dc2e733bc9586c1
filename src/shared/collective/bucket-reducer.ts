/**
 * Runs the all-reduces of one step's gradient buckets while the rest of the gradients are still
 * being read back from the engine: `ready(i)` marks variable i as written into the fusion buffer,
 * and each bucket whose variables are all in is queued for all-reduce (one at a time, in bucket
 * order, so every rank issues the same sequence). `finish()` resolves when all are reduced and
 * says how long communication was busy and how much of it happened after compute had ended.
 */
import type { Collective } from './collective.js';
import type { Bucket } from './buckets.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';

export interface CommTimes {
  /** Wall time during which an all-reduce of this step was in flight. */
  busyMs: number;
  /** Part of it after the last gradient was read back (what the step waited for). */
  exposedMs: number;
}

export class BucketReducer {
  private readonly filled: boolean[];
  private next = 0;
  private chain: Promise<void> = Promise.resolve();
  private busyMs = 0;
  private failed: Error | null = null;

  constructor(private readonly ring: Collective, private readonly fusion: Float32Array, private readonly buckets: readonly Bucket[]) {
    this.filled = new Array<boolean>(buckets.length === 0 ? 0 : buckets[buckets.length - 1]!.endVar).fill(false);
  }

  /** Variable `i` is now in the fusion buffer. */
  ready(i: number): void {
    this.filled[i] = true;
    while (this.next < this.buckets.length) {
      const b = this.buckets[this.next]!;
      for (let v = b.firstVar; v < b.endVar; v++) if (!this.filled[v]) return;
      this.next++;
      const view = this.fusion.subarray(b.start, b.start + b.length);
      this.chain = this.chain.then(async () => {
        if (this.failed) return;
        const t0 = performance.now();
        try {
          await this.ring.allreduceSum(view, { exact: b.exact });
        } catch (err) {
          this.failed = err instanceof Error ? err : new Error(String(err));
        }
        this.busyMs += performance.now() - t0;
      });
    }
  }

  /** Call once every variable is ready; resolves when every bucket is reduced. */
  async finish(): Promise<CommTimes> {
    if (this.next < this.buckets.length) throw new RingtrainError(ErrorCodes.INTERNAL, `gradient bucket ${this.next} was never filled`);
    const t0 = performance.now();
    await this.chain;
    if (this.failed) throw this.failed;
    return { busyMs: this.busyMs, exposedMs: performance.now() - t0 };
  }
}
