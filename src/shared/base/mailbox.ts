/**
 * An async queue with timed takes. Socket handlers push; the control loop takes, so every wait in
 * the step loop has a deadline and an error that says what was awaited.
 */
import { ErrorCodes, RingtrainError } from './errors.js';

export class Mailbox<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (v: T) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;
  private closedWith: Error | null = null;

  push(item: T): void {
    if (this.closedWith) return;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve(item);
    } else {
      this.items.push(item);
    }
  }

  /** Next item, or a RT_TIMEOUT error naming `what` after `timeoutMs`. One taker at a time. */
  take(timeoutMs: number, what: string): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.waiter) return Promise.reject(new RingtrainError(ErrorCodes.INTERNAL, 'mailbox already has a taker'));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new RingtrainError(ErrorCodes.TIMEOUT, `timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiter = { resolve, reject, timer };
    });
  }

  /** Fails the current and all future takes with `err` (queued items are still delivered first). */
  close(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    const w = this.waiter;
    if (w && this.items.length === 0) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
}
