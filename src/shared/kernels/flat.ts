/**
 * Pure helpers on flat Float32Array buffers: how a buffer is cut into ring segments and chunks,
 * element-wise reduction, and the replica checksum. No I/O here, so all of it is unit-tested
 * without sockets.
 */
import { createHash } from 'node:crypto';
import { KernelArena } from './kernel-arena.js';

export interface Span {
  start: number;
  length: number;
}

/**
 * Bounds of segment `i` of `parts` over `length` elements. The first `length % parts` segments get
 * one extra element, so any length works for any part count, including length < parts (then some
 * segments are empty).
 */
export function segmentBounds(length: number, parts: number, i: number): Span {
  const base = Math.floor(length / parts);
  const rem = length % parts;
  return { start: i * base + Math.min(i, rem), length: base + (i < rem ? 1 : 0) };
}

/** Cuts a span into chunks of at most `chunk` elements (none for an empty span). */
export function chunkSpans(span: Span, chunk: number): Span[] {
  const out: Span[] = [];
  for (let off = 0; off < span.length; off += chunk) {
    out.push({ start: span.start + off, length: Math.min(chunk, span.length - off) });
  }
  return out;
}

/** target[i] += src[i] for the whole of src, written into target starting at `offset`. */
export function addInto(target: Float32Array, offset: number, src: Float32Array): void {
  // A fusion buffer in a KernelArena is added into by the SIMD kernel (same sums).
  if (KernelArena.of(target)?.addFrom(target, offset, src)) return;
  const n = src.length;
  let i = 0;
  // Unrolled by four: V8 emits no SIMD for this loop, but fewer bounds checks and loop branches
  // make it about 1.4x faster (measured on 8 MiB); the ring spends much of its CPU time here.
  for (; i + 3 < n; i += 4) {
    const o = offset + i;
    target[o]! += src[i]!;
    target[o + 1]! += src[i + 1]!;
    target[o + 2]! += src[i + 2]!;
    target[o + 3]! += src[i + 3]!;
  }
  for (; i < n; i++) target[offset + i]! += src[i]!;
}

/**
 * In-place division; turns the all-reduced sum into a mean. Division rather than multiplication
 * by the reciprocal, so the result is the correctly rounded quotient whatever the divisor.
 */
export function divideInPlace(buf: Float32Array, divisor: number): void {
  for (let i = 0; i < buf.length; i++) buf[i]! /= divisor;
}

/**
 * Checksum of a replica's weights: SHA-256 of the exact bytes, so two replicas match only when
 * every bit matches. Truncated to 16 hex digits, which is plenty to detect drift.
 */
export function checksum(buf: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)).digest('hex').slice(0, 16);
}

/** Largest absolute element-wise difference; used by tests and tools comparing runs. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
