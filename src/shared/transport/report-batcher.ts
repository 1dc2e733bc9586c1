/**
 * When held step reports leave: a worker sends one `reports` message for several steps instead
 * of a message (and a socket write) per step, so a fast step loop does not pay a system call per
 * step. Reports leave once `maxItems` are held, once the first has waited `holdMs` (checked at
 * every new report, and by a timer when none comes), or when the owner flushes (before any other
 * message, so order is kept, and before the worker waits for the coordinator).
 *
 * Decisions only: the clock and the timer are injected, so tests drive them by hand, and `send`
 * is whatever writes the batch.
 */

/** The clock and timer a batcher runs on; the default is the process's own. */
export interface BatchClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

const systemClock: BatchClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface BatchLimits {
  /** Items that make a batch leave at once. */
  maxItems: number;
  /** Longest time the first held item may wait. */
  holdMs: number;
}

export class ReportBatcher<T> {
  private held: T[] = [];
  private heldSince = 0;
  private timer: unknown = undefined;

  constructor(
    private readonly send: (items: T[]) => void,
    private readonly limits: BatchLimits,
    private readonly clock: BatchClock = systemClock,
  ) {}

  /** Items held now. */
  get size(): number {
    return this.held.length;
  }

  /** Holds `item`; sends the batch at once when it is full or its first item has waited long enough. */
  add(item: T): void {
    const now = this.clock.now();
    if (this.held.length === 0) {
      this.heldSince = now;
      // Bounds the wait when no further report comes to check the age.
      this.timer = this.clock.setTimer(() => this.flush(), this.limits.holdMs);
    }
    this.held.push(item);
    if (this.held.length >= this.limits.maxItems || now - this.heldSince >= this.limits.holdMs) this.flush();
  }

  /** Sends what is held, if anything, as one batch. */
  flush(): void {
    if (this.held.length === 0) return;
    const items = this.held;
    this.held = [];
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.send(items);
  }

  /** Drops what is held without sending it (the connection is gone). */
  clear(): void {
    this.held = [];
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }
}
