/**
 * Reuses the buffers that hold whole received frames (a ring frame that came before its
 * collective started here, every payload of the small-message all-reduce). Allocating them fresh
 * cost a malloc of up to a chunk (256 KiB: above glibc's mmap threshold, so often an mmap) and a
 * page fault per 4 KiB touched, every frame; a few kept buffers make that a memcpy.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private kept = 0;

  /** `maxKept` bounds the buffers held idle (memory: at most maxKept × the largest frame). */
  constructor(private readonly maxKept: number) {}

  /** A buffer of exactly `bytes` bytes (contents undefined), 8-byte aligned (typed-array views fit). */
  take(bytes: number): Buffer {
    const list = this.free.get(bytes);
    const b = list?.pop();
    if (b !== undefined) {
      this.kept--;
      return b;
    }
    return Buffer.allocUnsafeSlow(bytes);
  }

  /** Hands a buffer from `take` back; the caller must hold no view of it any more. */
  give(b: Buffer): void {
    if (this.kept >= this.maxKept) return;
    let list = this.free.get(b.length);
    if (!list) this.free.set(b.length, (list = []));
    list.push(b);
    this.kept++;
  }
}
