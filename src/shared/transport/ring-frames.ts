/**
 * The ring data path's wire writer: WebSocket frame headers for what a ring link sends after its
 * handshake (data frames, the dialler's ready frame, close), written by hand so that a data
 * frame's header and payload go out in one writev without a copy. ring-stream.ts reads them.
 */
import { FRAME_HEADER_BYTES, FrameKind, writeFrameHeader, type FrameHeader } from '../protocol/codec.js';

/** WebSocket opcodes (RFC 6455) a ring link uses. */
export const OP_CONTINUATION = 0x0;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/**
 * The WebSocket frame header of one binary frame carrying `payloadBytes`. A dialler (client) must
 * mask its frames: it sets the mask bit with an all-zero key, so the payload goes out unchanged.
 */
export function wsBinaryHeader(payloadBytes: number, fromClient: boolean): Buffer {
  const head = Buffer.alloc(wsHeaderBytes(payloadBytes, fromClient));
  writeWsHeader(head, payloadBytes, fromClient);
  return head;
}

/** Bytes of the WebSocket header of a frame carrying `payloadBytes`. */
function wsHeaderBytes(payloadBytes: number, fromClient: boolean): number {
  return 2 + (payloadBytes < 126 ? 0 : payloadBytes < 65536 ? 2 : 8) + (fromClient ? 4 : 0);
}

/** Writes that header at the start of `head` (a client's all-zero mask key included). */
function writeWsHeader(head: Buffer, payloadBytes: number, fromClient: boolean): void {
  head[0] = 0x80 | OP_BINARY;
  const maskBit = fromClient ? 0x80 : 0;
  if (payloadBytes < 126) head[1] = maskBit | payloadBytes;
  else if (payloadBytes < 65536) {
    head[1] = maskBit | 126;
    head.writeUInt16BE(payloadBytes, 2);
  } else {
    head[1] = maskBit | 127;
    head.writeUInt32BE(0, 2);
    head.writeUInt32BE(payloadBytes, 6);
  }
  if (fromClient) head.writeUInt32LE(0, wsHeaderBytes(payloadBytes, fromClient) - 4);
}

/** A WebSocket close frame (status 1000), masked with zeros when sent by the dialler. */
export function wsCloseFrame(fromClient: boolean): Buffer {
  const head = wsBinaryHeader(2, fromClient);
  head[0] = 0x80 | OP_CLOSE;
  return Buffer.concat([head, Buffer.from([0x03, 0xe8])]);
}

/**
 * WebSocket header plus ring header (`h`, a `Data` header) of a frame whose payload follows as its
 * own write: one small buffer per chunk on the ring's send path.
 */
export function dataFrameHead(h: FrameHeader, payloadBytes: number, fromClient: boolean): Buffer {
  const ws = wsHeaderBytes(FRAME_HEADER_BYTES + payloadBytes, fromClient);
  const head = Buffer.allocUnsafe(ws + FRAME_HEADER_BYTES);
  writeWsHeader(head, FRAME_HEADER_BYTES + payloadBytes, fromClient);
  writeFrameHeader(head.subarray(ws), h);
  return head;
}

/** A whole WebSocket frame carrying one small ring frame (handshake, `Ready`). */
export function wsWrap(frame: Buffer, fromClient: boolean): Buffer {
  return Buffer.concat([wsBinaryHeader(frame.length, fromClient), frame]);
}

/** The dialler's `Ready` frame, ready to write. */
export function readyFrame(): Buffer {
  const f = Buffer.alloc(FRAME_HEADER_BYTES);
  writeFrameHeader(f, { kind: FrameKind.Ready, dtype: 0, hop: 0, generation: 0, seq: 0, offset: 0, count: 0 });
  return wsWrap(f, true);
}
