/**
 * Float32 buffers that live in one WebAssembly memory, so the SIMD kernels (kernels/*.wat) work on
 * them in place, with no copy in or out. A replica's weights, Adam moments and fusion buffer are
 * allocated here (generation.ts). The memory is sized once and never grows: a grown memory
 * replaces its ArrayBuffer and would detach every view handed out.
 */
import { FLAT_WASM } from './flat-wasm.js';

/** The kernels' signatures (kernels/flat.wat): byte offsets, a count of values, then float32 scalars. */
interface FlatKernels {
  adam(p: number, g: number, m: number, v: number, n: number, div: number, b1: number, a1: number, b2: number, a2: number, lr: number, c1: number, c2: number, eps: number): void;
  /** adam with the weights scaled by `decay` first (AdamW's decoupled weight decay). */
  adamw(p: number, g: number, m: number, v: number, n: number, div: number, b1: number, a1: number, b2: number, a2: number, lr: number, c1: number, c2: number, eps: number, decay: number): void;
  /** 1 when all n values are finite, else 0. */
  finite(a: number, n: number): number;
  add(d: number, s: number, n: number): void;
  /** torch.optim.SGD without momentum; wdOn 1 adds the weight-decay term. */
  sgd(p: number, g: number, n: number, div: number, lr: number, wd: number, wdOn: number): void;
  /** torch.optim.SGD with the momentum buffer at b; nesterov 1 for Nesterov's variant. */
  sgdm(p: number, g: number, b: number, n: number, div: number, lr: number, wd: number, wdOn: number, mu: number, nesterov: number): void;
  /** Sum of squares of g / div in float64, four lane sums combined as (s0 + s1) + (s2 + s3). */
  sumsq(g: number, n: number, div: number): number;
}

const ALIGN = 16;
/**
 * Room where addBytes copies values that live outside the memory before adding them (a link
 * reading into a buffer of its own): a quarter of a ring read, a few copy-and-add rounds per read.
 */
const SCRATCH_VALUES = (256 * 1024) / 4;
/** Below this many values the kernel call and copy cost more than a plain loop saves. */
const MIN_KERNEL_ADD = 64;
const PAGE = 65536;
/** wasm32 addresses 4 GiB; stay a page below so offsets never wrap. */
const MAX_BYTES = 2 ** 32 - PAGE;

let compiled: WebAssembly.Module | null | undefined;
/** The compiled kernel module, or null where the engine lacks WebAssembly SIMD. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    const bytes = Buffer.from(FLAT_WASM, 'base64');
    compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

const byBuffer = new WeakMap<ArrayBufferLike, KernelArena>();

/** Bytes that n values take in the arena, rounded up to ALIGN as `reserve` rounds them. */
const padded = (n: number): number => Math.ceil((n * 4) / ALIGN) * ALIGN;

export class KernelArena {
  private used = 0;
  /** addBytes' staging room, the arena's first allocation (as values and as bytes). */
  private scratch!: Float32Array;
  private scratchBytes!: Uint8Array;

  private constructor(private readonly memory: WebAssembly.Memory, readonly kernels: FlatKernels) {}

  /**
   * An arena with room for buffers of these lengths, or null where it cannot be had (no
   * WebAssembly SIMD, more than wasm32 can address, or the memory cannot be allocated): callers
   * then use plain arrays and the JavaScript paths, which give the same bits.
   */
  static create(lengths: readonly number[]): KernelArena | null {
    const mod = kernelModule();
    const bytes = lengths.reduce((s, n) => s + padded(n), padded(SCRATCH_VALUES));
    if (!mod || bytes > MAX_BYTES) return null;
    const pages = Math.max(1, Math.ceil(bytes / PAGE));
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    } catch {
      return null;
    }
    const arena = new KernelArena(memory, new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as FlatKernels);
    arena.scratch = arena.alloc(SCRATCH_VALUES)!;
    arena.scratchBytes = new Uint8Array(arena.scratch.buffer, arena.scratch.byteOffset, arena.scratch.byteLength);
    byBuffer.set(memory.buffer, arena);
    return arena;
  }

  /**
   * target[offset + i] += src[i] for every i, where target lives in this memory and src anywhere.
   * The same float32 sums as that loop. False (nothing done) when src falls outside target.
   */
  addFrom(target: Float32Array, offset: number, src: Float32Array): boolean {
    return this.addBytes(target, offset, new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  }

  /**
   * target[offset + i] += the i-th float32 (little-endian) of `bytes`, which may sit at any byte
   * alignment, where target lives in this memory. Bytes in this memory too (a ring link's read
   * buffer, see allocBytes) are added where they lie, since the kernel's loads need no alignment;
   * bytes elsewhere (a socket's own read buffers) are first copied into the scratch room piece by
   * piece, which still makes it about 4× a JavaScript loop. The same float32 sums as
   * `target[o] += src[i]`. False (nothing done) when the values fall outside target: out of the
   * view's range the kernel would write into a neighbouring buffer.
   */
  addBytes(target: Float32Array, offset: number, bytes: Uint8Array): boolean {
    const n = bytes.length >>> 2;
    if (offset < 0 || offset + n > target.length) return false;
    const inside = bytes.buffer === this.memory.buffer;
    const room = this.scratch.length;
    for (let i = 0; i < n; i += room) {
      const k = Math.min(room, n - i);
      const part = bytes.subarray(i * 4, (i + k) * 4);
      // Short pieces (a value split across socket reads) are not worth a kernel call.
      const k4 = k < MIN_KERNEL_ADD ? 0 : k - (k % 4);
      const at = offset + i;
      if (inside) {
        if (k4 > 0) this.kernels.add(target.byteOffset + at * 4, part.byteOffset, k4);
        if (k4 < k) {
          this.scratchBytes.set(part.subarray(k4 * 4));
          this.addScratch(target, at + k4, 0, k - k4);
        }
      } else {
        this.scratchBytes.set(part);
        if (k4 > 0) this.kernels.add(target.byteOffset + at * 4, this.scratch.byteOffset, k4);
        this.addScratch(target, at + k4, k4, k - k4);
      }
    }
    return true;
  }

  /** target[at + j] += scratch[from + j] for j < count: the values the kernel left. */
  private addScratch(target: Float32Array, at: number, from: number, count: number): void {
    const s = this.scratch;
    for (let j = 0; j < count; j++) target[at + j]! += s[from + j]!;
  }

  /** The arena that `a` is a view into (any offset), else null. */
  static of(a: Float32Array): KernelArena | null {
    return byBuffer.get(a.buffer) ?? null;
  }

  /** A zeroed, 16-byte aligned buffer of n values; null once the arena is full. */
  alloc(n: number): Float32Array | null {
    const at = this.reserve(n * 4);
    return at === null ? null : new Float32Array(this.memory.buffer, at, n);
  }

  /**
   * A 16-byte aligned Buffer of n bytes in this memory (a ring link's socket reads into it, so
   * received gradients are added from where the read put them); null once the arena is full.
   */
  allocBytes(n: number): Buffer | null {
    const at = this.reserve(n);
    return at === null ? null : Buffer.from(this.memory.buffer, at, n);
  }

  /** The byte offset of `bytes` more of the memory (rounded up to ALIGN), or null when full. */
  private reserve(bytes: number): number | null {
    const size = Math.ceil(bytes / ALIGN) * ALIGN;
    if (this.used + size > this.memory.buffer.byteLength) return null;
    const at = this.used;
    this.used += size;
    return at;
  }

  /** The arena that holds every one of `arrays` (each at an aligned offset), else null. */
  static holding(...arrays: Float32Array[]): KernelArena | null {
    const arena = KernelArena.of(arrays[0]!);
    if (!arena) return null;
    return arrays.every((a) => a.buffer === arrays[0]!.buffer && a.byteOffset % ALIGN === 0) ? arena : null;
  }
}

/** Allocates from `arena` while it has room, else a plain array: a fallback, never an error. */
export function allocator(arena: KernelArena | null): (n: number) => Float32Array {
  return (n) => arena?.alloc(n) ?? new Float32Array(n);
}
