/**
 * Framing of the zero-copy data path: a `DataHead` header message, then its payload as the next
 * message on the same link (a whole `Data` frame in one message is accepted too). Fed one WebSocket message at a time (no sockets, so it is tested by
 * feeding bytes); returns whole frames and throws RT_BAD_FRAME for anything out of shape.
 */
import { FRAME_HEADER_BYTES, FrameKind, dtypeWidth, readFrameHeader, type FrameHeader } from './codec.js';
import { ErrorCodes, RingtrainError } from './errors.js';

export interface DataFrame {
  header: FrameHeader;
  payload: Buffer;
}

export class FramePairer {
  private head: FrameHeader | null = null;

  /** `maxPayloadBytes` bounds what a header may announce, before its payload is awaited. */
  constructor(private readonly maxPayloadBytes: number) {}

  /** Feeds one binary message; returns the completed frame, or null after a header. */
  push(msg: Buffer): DataFrame | null {
    const head = this.head;
    if (head === null) {
      // A whole `Data` frame (header and payload in one message) is still a valid frame: hand-built
      // peers and tests send it, and it costs the receiver nothing extra.
      if (msg.length > FRAME_HEADER_BYTES && msg.readUInt8(0) === FrameKind.Data) return this.whole(msg);
      if (msg.length !== FRAME_HEADER_BYTES) throw new RingtrainError(ErrorCodes.BAD_FRAME, `expected a ${FRAME_HEADER_BYTES}-byte data header, got ${msg.length} bytes`);
      const h = readFrameHeader(msg);
      if (h.kind !== FrameKind.DataHead) throw new RingtrainError(ErrorCodes.BAD_FRAME, `expected a data header, got frame kind ${h.kind}`);
      if (h.count === 0 || h.count * dtypeWidth(h.dtype) > this.maxPayloadBytes) {
        throw new RingtrainError(ErrorCodes.BAD_FRAME, `data header announces ${h.count} elements (${h.count * dtypeWidth(h.dtype)} bytes; limit ${this.maxPayloadBytes})`);
      }
      this.head = h;
      return null;
    }
    const want = head.count * dtypeWidth(head.dtype);
    if (msg.length !== want) throw new RingtrainError(ErrorCodes.BAD_FRAME, `data payload is ${msg.length} bytes, its header announced ${want}`);
    this.head = null;
    return { header: head, payload: msg };
  }

  private whole(msg: Buffer): DataFrame {
    const h = readFrameHeader(msg);
    const bytes = h.count * dtypeWidth(h.dtype);
    if (bytes > this.maxPayloadBytes) throw new RingtrainError(ErrorCodes.BAD_FRAME, `data frame carries ${bytes} bytes (limit ${this.maxPayloadBytes})`);
    return { header: h, payload: msg.subarray(FRAME_HEADER_BYTES) };
  }
}
