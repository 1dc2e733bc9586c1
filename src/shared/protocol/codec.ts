/**
 * Wire formats. Control messages are msgpack (typed arrays travel as binary extensions, so
 * batches and weights need no base64 or JSON); ring data frames are a fixed 20-byte header plus a
 * raw little-endian payload, so the gradient path never goes through a general serialiser.
 */
import { Packr } from 'msgpackr';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { parseMessage, type Message } from './protocol.js';
import { AUTH_BYTES } from './auth.js';

const packr = new Packr({ useRecords: false, moreTypes: true });

/** Encodes a control message. The returned buffer is never reused by the encoder. */
export function encodeMessage(msg: Message): Buffer {
  return packr.pack(msg);
}

/** Decodes msgpack without validating its shape; throws RT_BAD_MESSAGE when it is not msgpack. */
export function decodeRaw(data: Buffer | ArrayBuffer | Buffer[]): unknown {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  try {
    return packr.unpack(buf);
  } catch (err) {
    throw new RingtrainError(ErrorCodes.BAD_MESSAGE, `undecodable message (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Decodes and validates one control message; throws RT_BAD_MESSAGE for anything malformed. */
export function decodeMessage(data: Buffer | ArrayBuffer | Buffer[]): Message {
  return parseMessage(decodeRaw(data));
}

// ---- ring frames ----

/**
 * Frame kinds on a ring link: the handshake's three, `Data` (header and payload in one WebSocket
 * frame) and `Ready` (a bare header, see peer-link.ts).
 */
export const FrameKind = { Hello: 1, Data: 2, Challenge: 3, Accept: 4, Ready: 6 } as const;
/** What a peer link is for; hello and accept name it in their `hop` field (and prove it). */
export const LinkKind = { Ring: 0, Mesh: 1 } as const;

/**
 * Payload bytes of each handshake frame (see ring-handshake.ts): a challenge carries the
 * listener's nonce, a hello the dialler's proof then its own nonce, an accept the listener's proof.
 */
export const HANDSHAKE_PAYLOAD: Readonly<Record<number, number>> = {
  [FrameKind.Challenge]: AUTH_BYTES,
  [FrameKind.Hello]: 2 * AUTH_BYTES,
  [FrameKind.Accept]: AUTH_BYTES,
};
/** Payload element types. */
export const Dtype = { F32: 1, F16: 2 } as const;
export type DtypeId = (typeof Dtype)[keyof typeof Dtype];

export const FRAME_HEADER_BYTES = 20;

/**
 * Header of a ring frame. `seq` numbers collective calls within a generation (the training step
 * when there is one collective per step); `hop` is the position of the chunk along the ring
 * (0..2N-3); `offset`/`count` locate the payload in the flat buffer, in elements.
 */
export interface FrameHeader {
  kind: number;
  dtype: number;
  hop: number;
  generation: number;
  seq: number;
  offset: number;
  count: number;
}

export function writeFrameHeader(target: Buffer, h: FrameHeader): void {
  target.writeUInt8(h.kind, 0);
  target.writeUInt8(h.dtype, 1);
  target.writeUInt16LE(h.hop, 2);
  target.writeUInt32LE(h.generation, 4);
  target.writeUInt32LE(h.seq, 8);
  target.writeUInt32LE(h.offset, 12);
  target.writeUInt32LE(h.count, 16);
}

/** The header fields of the first 20 bytes, unchecked (the stream reader checks them against the WebSocket frame length). */
export function decodeFrameHeader(frame: Buffer): FrameHeader {
  if (frame.length < FRAME_HEADER_BYTES) throw new RingtrainError(ErrorCodes.BAD_FRAME, `ring frame of ${frame.length} bytes is shorter than its header`);
  return {
    kind: frame.readUInt8(0),
    dtype: frame.readUInt8(1),
    hop: frame.readUInt16LE(2),
    generation: frame.readUInt32LE(4),
    seq: frame.readUInt32LE(8),
    offset: frame.readUInt32LE(12),
    count: frame.readUInt32LE(16),
  };
}

/** Parses a whole frame's header; throws RT_BAD_FRAME when the frame is too short or its payload length lies. */
export function readFrameHeader(frame: Buffer): FrameHeader {
  const h = decodeFrameHeader(frame);
  if (h.kind === FrameKind.Ready) {
    if (frame.length !== FRAME_HEADER_BYTES) throw new RingtrainError(ErrorCodes.BAD_FRAME, `ring ready frame is ${frame.length} bytes, expected ${FRAME_HEADER_BYTES}`);
  } else if (h.kind !== FrameKind.Data) {
    const want = HANDSHAKE_PAYLOAD[h.kind];
    if (want === undefined) throw new RingtrainError(ErrorCodes.BAD_FRAME, `unknown ring frame kind ${h.kind}`);
    if (h.count !== want || frame.length !== FRAME_HEADER_BYTES + want) throw new RingtrainError(ErrorCodes.BAD_FRAME, `ring handshake frame of kind ${h.kind} must carry ${want} bytes`);
  } else {
    const width = dtypeWidth(h.dtype);
    if (width === 0) throw new RingtrainError(ErrorCodes.BAD_FRAME, `unknown ring dtype ${h.dtype}`);
    if (frame.length !== FRAME_HEADER_BYTES + h.count * width) {
      throw new RingtrainError(ErrorCodes.BAD_FRAME, `ring frame payload is ${frame.length - FRAME_HEADER_BYTES} bytes, header says ${h.count * width}`);
    }
  }
  return h;
}

/** Bytes per element of a ring dtype; 0 for an unknown one. */
export function dtypeWidth(dtype: number): number {
  return dtype === Dtype.F32 ? 4 : dtype === Dtype.F16 ? 2 : 0;
}

/**
 * A Float32Array over a frame's payload without copying when the payload is 4-byte aligned
 * (it usually is); otherwise one copy, since typed arrays cannot be unaligned.
 */
export function payloadF32(frame: Buffer, count: number): Float32Array {
  return bytesAsF32(frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + count * 4));
}

/**
 * The same bytes at an offset that is a multiple of `width`: `bytes` itself, or one copy (typed
 * arrays cannot be unaligned, and a payload's place in a socket read is arbitrary).
 */
export function alignedBytes(bytes: Buffer, width: number): Buffer {
  if (bytes.byteOffset % width === 0) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

/** Float32 values of raw little-endian bytes: a view when aligned, else one copy. */
export function bytesAsF32(bytes: Buffer): Float32Array {
  const a = alignedBytes(bytes, 4);
  return new Float32Array(a.buffer, a.byteOffset, a.length >>> 2);
}
