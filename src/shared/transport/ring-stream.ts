/**
 * The ring data path's wire reader: parses the WebSocket frames of a ring link straight from the
 * socket's reads and streams each data frame's payload to wherever its header says it belongs, in
 * pieces of whole, aligned elements. Nothing is copied into a message buffer first (the `ws`
 * library would concatenate every message out of the socket reads), so the ring adds received
 * gradients straight from the bytes the kernel handed over.
 *
 * Pure: fed Buffers (as they come from a socket, split anywhere), tested by feeding bytes.
 * Anything out of shape throws RT_BAD_FRAME; the link that fed it is then finished.
 *
 * What a link carries after its handshake (ring-handshake.ts), each in one binary WebSocket frame:
 * - `Data`: a 20-byte ring header then its payload (what ringtrain sends);
 * - `Ready`: a bare header, the dialler's "I am reading you now" (see peer-link.ts).
 * Ping and pong frames are skipped; a close frame ends the link. Masked frames are unmasked
 * (ringtrain's own diallers mask with zeros, which costs nothing). The writer is ring-frames.ts.
 *
 * Over 300 lines on purpose: the reader is one state machine over the socket's reads whose states
 * share the read position, the partial header and the unmasking offset; split, they would share
 * them through fields of another class.
 */
import { FRAME_HEADER_BYTES, FrameKind, decodeFrameHeader, dtypeWidth, type FrameHeader } from '../protocol/codec.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG } from './ring-frames.js';

/** Where a data frame's payload goes, chosen from its header. */
export interface FrameTarget {
  /**
   * `bytes` holds whole elements [at, at + bytes.length / width) of the payload, and its
   * byteOffset is a multiple of the element width, so a typed-array view over it is valid, unless
   * the target set `anyAlignment`. It is only valid during the call (it may be a scratch buffer,
   * or a socket's read buffer that the next read overwrites).
   */
  piece(bytes: Buffer, at: number): void;
  /**
   * The target takes pieces at any byte alignment (it adds with unaligned loads or copies bytes),
   * so the reader hands over the bytes where they lie instead of copying them onto the grid.
   */
  readonly anyAlignment?: boolean;
  /**
   * For a payload stored unchanged (an all-gather copy): bytes [from, from + length) of where the
   * payload goes. The reader then copies the bytes there itself, split anywhere, instead of
   * calling `piece`, and a link may read its socket straight into it (see `directTarget`).
   */
  bytesAt?(from: number, length: number): Uint8Array;
}

/** `collect`: gather the payload into a Buffer of its own; `discard`: read and drop it. */
export type Route = FrameTarget | 'collect' | 'discard';

export interface StreamHooks {
  /** A data header arrived: where its payload goes. May throw RT_BAD_FRAME. */
  route(h: FrameHeader): Route;
  /** The frame's payload is complete; `payload` is set for collected frames only. */
  end(h: FrameHeader, route: Route, payload: Buffer | null): void;
  /** The peer sent `Ready`. */
  ready(): void;
  /** The peer sent a WebSocket close frame. */
  closed(): void;
}


const enum State {
  WsHead,
  RingHead,
  Payload,
  Control,
}

export class RingStreamReader {
  private state = State.WsHead;
  /** WebSocket header bytes gathered so far (at most 14). */
  private readonly wsHead = Buffer.alloc(14);
  private wsHave = 0;
  private wsNeed = 2;
  private opcode = 0;
  private mask: Buffer | null = null;
  /** Bytes of the current WebSocket payload consumed (for the mask's phase). */
  private msgPos = 0;
  private msgLen = 0;
  private readonly ringHead = Buffer.alloc(FRAME_HEADER_BYTES);
  private ringHave = 0;
  private header: FrameHeader | null = null;
  private route: Route = 'discard';
  private width = 4;
  /** Payload bytes delivered so far (whole elements plus `partial`). */
  private payloadPos = 0;
  private collected: Buffer | null = null;
  /** The start of an element split across two reads. */
  private readonly partial = Buffer.alloc(8);
  private partialLen = 0;
  private scratch: Buffer = Buffer.allocUnsafeSlow(0);

  /**
   * `maxPayloadBytes` bounds a data frame's payload (one chunk, or one small all-reduce);
   * `alloc` gives the buffers collected payloads are gathered into (a pool, or fresh memory).
   */
  constructor(
    private readonly maxPayloadBytes: number,
    private readonly hooks: StreamHooks,
    private readonly alloc: (bytes: number) => Buffer = (n) => Buffer.allocUnsafeSlow(n),
  ) {}

  /** Feeds one read from the socket. */
  push(chunk: Buffer): void {
    let p = 0;
    while (p < chunk.length) {
      switch (this.state) {
        case State.WsHead:
          p = this.readWsHead(chunk, p);
          break;
        case State.RingHead: {
          const k = Math.min(FRAME_HEADER_BYTES - this.ringHave, chunk.length - p);
          this.unmaskInto(chunk.subarray(p, p + k), this.ringHead, this.ringHave);
          this.ringHave += k;
          this.msgPos += k;
          p += k;
          if (this.ringHave === FRAME_HEADER_BYTES) this.onRingHead();
          break;
        }
        case State.Payload: {
          const k = Math.min(this.msgLen - this.msgPos, chunk.length - p);
          this.payload(this.unmasked(chunk.subarray(p, p + k)));
          this.msgPos += k;
          p += k;
          if (this.msgPos === this.msgLen) this.endPayload();
          break;
        }
        case State.Control: {
          const k = Math.min(this.msgLen - this.msgPos, chunk.length - p);
          this.msgPos += k;
          p += k;
          if (this.msgPos === this.msgLen) this.endControl();
          break;
        }
      }
    }
  }

  private bad(why: string): never {
    throw new RingtrainError(ErrorCodes.BAD_FRAME, why);
  }

  private readWsHead(chunk: Buffer, p: number): number {
    const k = Math.min(this.wsNeed - this.wsHave, chunk.length - p);
    chunk.copy(this.wsHead, this.wsHave, p, p + k);
    this.wsHave += k;
    p += k;
    if (this.wsHave < this.wsNeed) return p;
    const b0 = this.wsHead[0]!;
    const b1 = this.wsHead[1]!;
    const len7 = b1 & 0x7f;
    const masked = (b1 & 0x80) !== 0;
    const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    if (this.wsNeed < need) {
      this.wsNeed = need;
      return p;
    }
    this.opcode = b0 & 0x0f;
    let len = len7;
    if (len7 === 126) len = this.wsHead.readUInt16BE(2);
    else if (len7 === 127) {
      if (this.wsHead.readUInt32BE(2) !== 0) this.bad('WebSocket frame longer than 4 GiB on a ring link');
      len = this.wsHead.readUInt32BE(6);
    }
    const key = masked ? this.wsHead.subarray(need - 4, need) : null;
    this.mask = key && key.readUInt32LE(0) !== 0 ? Buffer.from(key) : null;
    this.msgLen = len;
    this.msgPos = 0;
    this.wsHave = 0;
    this.wsNeed = 2;
    if ((b0 & 0x70) !== 0) this.bad('WebSocket frame with reserved bits set (extensions are not negotiated on ring links)');
    if (this.opcode >= 0x8) {
      if ((b0 & 0x80) === 0 || len > 125) this.bad(`fragmented or oversized WebSocket control frame (opcode ${this.opcode})`);
      if (this.opcode !== OP_CLOSE && this.opcode !== OP_PING && this.opcode !== OP_PONG) this.bad(`unknown WebSocket opcode ${this.opcode}`);
      this.state = State.Control;
      if (len === 0) this.endControl();
      return p;
    }
    if (this.opcode === OP_CONTINUATION || (b0 & 0x80) === 0) this.bad('fragmented WebSocket message on a ring link (every ring frame is one WebSocket frame)');
    if (this.opcode !== OP_BINARY) this.bad('text frame on a ring link');
    if (len < FRAME_HEADER_BYTES) this.bad(`ring frame of ${len} bytes is shorter than its header`);
    this.ringHave = 0;
    this.state = State.RingHead;
    return p;
  }

  private onRingHead(): void {
    const kind = this.ringHead.readUInt8(0);
    if (kind === FrameKind.Ready) {
      if (this.msgLen !== FRAME_HEADER_BYTES) this.bad('a ready frame carries no payload');
      this.state = State.WsHead;
      this.hooks.ready();
      return;
    }
    if (kind !== FrameKind.Data) this.bad(`unexpected ring frame kind ${kind} after the handshake`);
    const h = decodeFrameHeader(this.ringHead);
    const width = dtypeWidth(h.dtype);
    if (width === 0) this.bad(`unknown ring dtype ${h.dtype}`);
    const bytes = h.count * width;
    if (h.count === 0 || bytes > this.maxPayloadBytes) this.bad(`data header announces ${h.count} elements (${bytes} bytes; limit ${this.maxPayloadBytes})`);
    if (this.msgLen - FRAME_HEADER_BYTES !== bytes) this.bad(`ring frame payload is ${this.msgLen - FRAME_HEADER_BYTES} bytes, header says ${bytes}`);
    this.startPayload(h, width);
  }

  private startPayload(h: FrameHeader, width: number): void {
    this.header = h;
    this.width = width;
    this.payloadPos = 0;
    this.partialLen = 0;
    this.route = this.hooks.route(h);
    this.collected = this.route === 'collect' ? this.alloc(h.count * this.width) : null;
    this.state = State.Payload;
  }

  /**
   * Where the socket's next read may go straight to: the rest of the payload in progress, when
   * its target stores it unchanged (`bytesAt`) and no mask must be undone; else null. The link
   * reports what landed there with `placed` (fixed-read.ts), so those bytes are never copied.
   */
  directTarget(): Uint8Array | null {
    const route = this.route;
    if (this.state !== State.Payload || this.mask !== null || typeof route !== 'object' || route.bytesAt === undefined) return null;
    return route.bytesAt(this.payloadPos, this.msgLen - this.msgPos);
  }

  /**
   * Bytes left in the header or payload in progress (a whole data frame's headers when between
   * frames), so a link can end each read where the frame part ends: then a payload that can be
   * read straight into place (directTarget) is never partly read into a buffer first.
   */
  partRoom(): number {
    switch (this.state) {
      case State.WsHead:
        // The longest data-frame header: 64-bit length and a mask key, then the ring header.
        return 14 - this.wsHave + FRAME_HEADER_BYTES;
      case State.RingHead:
        return FRAME_HEADER_BYTES - this.ringHave;
      case State.Payload:
      case State.Control:
        return this.msgLen - this.msgPos;
    }
  }

  /** `n` payload bytes were read straight into the view `directTarget` gave. */
  placed(n: number): void {
    if (this.state !== State.Payload || n > this.msgLen - this.msgPos) this.bad('bytes placed outside a payload');
    this.payloadPos += n;
    this.msgPos += n;
    if (this.msgPos === this.msgLen) this.endPayload();
  }

  /** Hands `bytes` (the next payload bytes, already unmasked) to the frame's route. */
  private payload(bytes: Buffer): void {
    const route = this.route;
    if (route === 'discard') {
      this.payloadPos += bytes.length;
      return;
    }
    if (route === 'collect') {
      bytes.copy(this.collected!, this.payloadPos);
      this.payloadPos += bytes.length;
      return;
    }
    if (route.bytesAt !== undefined) {
      route.bytesAt(this.payloadPos, bytes.length).set(bytes);
      this.payloadPos += bytes.length;
      return;
    }
    const w = this.width;
    let i = 0;
    if (this.partialLen > 0) {
      // Complete the element split across reads, and hand it over on its own.
      const k = Math.min(w - this.partialLen, bytes.length);
      bytes.copy(this.partial, this.partialLen, 0, k);
      this.partialLen += k;
      this.payloadPos += k;
      i = k;
      if (this.partialLen < w) return;
      route.piece(this.partial.subarray(0, w), this.payloadPos / w - 1);
      this.partialLen = 0;
    }
    const whole = bytes.length - i - ((bytes.length - i) % w);
    if (whole > 0) {
      let run = bytes.subarray(i, i + whole);
      // Typed arrays cannot be unaligned; where a read split the stream off the element grid,
      // one memcpy into scratch puts it back (far cheaper than the add that follows).
      if (run.byteOffset % w !== 0 && route.anyAlignment !== true) {
        if (this.scratch.length < whole) this.scratch = Buffer.allocUnsafeSlow(Math.max(whole, 64 * 1024));
        run.copy(this.scratch);
        run = this.scratch.subarray(0, whole);
      }
      route.piece(run, this.payloadPos / w);
      this.payloadPos += whole;
      i += whole;
    }
    if (i < bytes.length) {
      bytes.copy(this.partial, 0, i);
      this.partialLen = bytes.length - i;
      this.payloadPos += this.partialLen;
    }
  }

  private endPayload(): void {
    const h = this.header!;
    const route = this.route;
    const payload = this.collected;
    this.header = null;
    this.collected = null;
    this.route = 'discard';
    this.state = State.WsHead;
    this.hooks.end(h, route, payload);
  }

  private endControl(): void {
    this.state = State.WsHead;
    if (this.opcode === OP_CLOSE) this.hooks.closed();
  }

  /** `bytes` unmasked: itself when the frame has no (or an all-zero) mask, else a copy. */
  private unmasked(bytes: Buffer): Buffer {
    if (this.mask === null) return bytes;
    const out = Buffer.allocUnsafe(bytes.length);
    this.unmaskInto(bytes, out, 0);
    return out;
  }

  private unmaskInto(src: Buffer, dst: Buffer, at: number): void {
    const m = this.mask;
    if (m === null) {
      src.copy(dst, at);
      return;
    }
    for (let i = 0; i < src.length; i++) dst[at + i] = src[i]! ^ m[(this.msgPos + i) & 3]!;
  }
}
