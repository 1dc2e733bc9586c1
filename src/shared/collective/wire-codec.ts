/**
 * How all-reduce values travel: float32 as they are, or float16 (`compress: 'fp16'`). Each
 * algorithm asks its codec for the bytes of a chunk and hands received bytes back to it, so the
 * precision is decided once per call instead of in every algorithm.
 *
 * Under float16, whoever finishes a value rounds its own copy before sending it (`roundInPlace`),
 * so every rank ends with the same, fp16-representable bits.
 */
import { Dtype, bytesAsF32 } from '../protocol/codec.js';
import { addInto } from '../kernels/flat.js';
import { KernelArena } from '../kernels/kernel-arena.js';
import { addF16Into, decodeF16Into, encodeF16, encodeF16InPlace, payloadU16 } from './fp16.js';

/** One encoding of all-reduce values on the wire. */
export interface WireCodec {
  /** The frame header's dtype for this encoding. */
  readonly dtype: number;
  /**
   * Received values of this encoding are stored unchanged when copied (not added), so a link may
   * read them straight into place.
   */
  readonly storesRaw: boolean;
  /**
   * The bytes to send for `chunk`: a view of it (float32, never a copy), or its encoding; with
   * `roundInPlace` the chunk is also overwritten with what receivers will decode.
   */
  encode(chunk: Float32Array, roundInPlace: boolean): Uint8Array;
  /**
   * Adds received wire values (whole elements) into `buf` from element `at`, or copies them there.
   * They are aligned unless `takesUnaligned(buf)` said otherwise.
   */
  apply(buf: Float32Array, at: number, bytes: Buffer, add: boolean): void;
  /** Whether `apply` into `buf` takes bytes at any alignment (so the reader need not align them). */
  takesUnaligned(buf: Float32Array): boolean;
  /** Rounds all of `buf` to what this encoding carries (a no-op for float32). */
  round(buf: Float32Array): void;
}

/**
 * Float32 on the wire. A buffer in a KernelArena is added into with unaligned SIMD loads from
 * where the bytes lie (the link may read into the same arena) and copied into as bytes.
 */
export const f32Codec: WireCodec = {
  dtype: Dtype.F32,
  storesRaw: true,
  encode(chunk) {
    return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  },
  apply(buf, at, bytes, add) {
    const arena = KernelArena.of(buf);
    if (arena !== null) {
      if (!add) new Uint8Array(buf.buffer, buf.byteOffset + at * 4, bytes.length).set(bytes);
      else if (!arena.addBytes(buf, at, bytes)) addInto(buf, at, bytesAsF32(bytes));
      return;
    }
    const src = bytesAsF32(bytes);
    if (add) addInto(buf, at, src);
    else buf.set(src, at);
  },
  takesUnaligned(buf) {
    return KernelArena.of(buf) !== null;
  },
  round() {},
};

/** Float16 on the wire: half the bytes, values rounded to nearest even (fp16.ts). */
export const f16Codec: WireCodec = {
  dtype: Dtype.F16,
  storesRaw: false,
  encode(chunk, roundInPlace) {
    const enc = new Uint16Array(chunk.length);
    if (roundInPlace) encodeF16InPlace(chunk, enc);
    else encodeF16(chunk, enc);
    return new Uint8Array(enc.buffer);
  },
  apply(buf, at, bytes, add) {
    const src = payloadU16(bytes);
    if (add) addF16Into(src, buf, at);
    else decodeF16Into(src, buf, at);
  },
  takesUnaligned() {
    return false;
  },
  round(buf) {
    encodeF16InPlace(buf, new Uint16Array(buf.length));
  },
};
