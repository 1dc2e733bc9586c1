/**
 * One worker-to-worker WebSocket after its handshake (ring-handshake.ts), as the collectives use
 * it: sending data frames as a bare header followed by the payload as its own message. The payload is handed
 * to the socket as a view of the caller's buffer (no copy; the client masks with all zeros, which
 * `ws` skips on both ends), so the caller must leave those bytes alone until `done` fires, which
 * is when the socket has handed them to the kernel. A window bounds the frames handed to the
 * socket at once; the rest wait here in order (back-pressure without unbounded socket buffers).
 */
import type { WebSocket } from 'ws';
import { Defaults } from '../shared/constants.js';
import { ErrorCodes, RingtrainError } from '../shared/errors.js';
import { FRAME_HEADER_BYTES, FrameKind, writeFrameHeader, type FrameHeader } from '../shared/codec.js';
import { FramePairer, type DataFrame } from '../shared/frame-pairer.js';

type Held = [data: Buffer, isBinary: boolean][];
const held = new WeakMap<WebSocket, { backlog: Held; hold: (d: Buffer, b: boolean) => void }>();

/**
 * Keeps every message `ws` receives from now on until a PeerLink adopts the socket. Pausing is
 * not enough: `ws` still emits the messages it already parsed from the last read, and a fast
 * peer may send data right behind its accept (or before this rank has finished forming its links).
 */
export function holdMessages(ws: WebSocket): void {
  const backlog: Held = [];
  const hold = (d: Buffer, b: boolean): void => void backlog.push([d, b]);
  ws.on('message', hold);
  held.set(ws, { backlog, hold });
}

function adopt(ws: WebSocket): Held {
  const h = held.get(ws);
  if (!h) return [];
  held.delete(ws);
  ws.off('message', h.hold);
  return h.backlog;
}

interface Pending {
  head: Buffer;
  payload: Buffer;
  done: (err?: Error) => void;
}

export class PeerLink {
  private readonly pairer = new FramePairer(Defaults.ringMaxMessageBytes);
  private readonly queue: Pending[] = [];
  private inFlight = 0;

  /**
   * `onFrame` gets every complete data frame; `onError` gets malformed input and socket failures
   * (`what` names the peer in messages).
   */
  constructor(readonly ws: WebSocket, readonly what: string, onFrame: (f: DataFrame) => void, onError: (err: Error) => void) {
    const backlog = adopt(ws);
    const onMessage = (data: Buffer, isBinary: boolean): void => {
      let frame: DataFrame | null;
      try {
        if (!isBinary) throw new RingtrainError(ErrorCodes.BAD_FRAME, 'text frame on a ring link');
        frame = this.pairer.push(data);
      } catch (err) {
        onError(new RingtrainError(ErrorCodes.BAD_FRAME, `bad frame from ${what}: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
      if (frame) onFrame(frame);
    };
    ws.on('message', onMessage);
    ws.on('close', () => onError(new RingtrainError(ErrorCodes.RING_FAILED, `${what} closed`)));
    ws.on('error', (err) => onError(new RingtrainError(ErrorCodes.RING_FAILED, `${what} failed: ${err.message}`)));
    ws.resume();
    // Replay after the constructor returns, so the owner's fields are all set when frames arrive.
    if (backlog.length > 0) queueMicrotask(() => backlog.forEach(([d, b]) => onMessage(d, b)));
  }

  /** Sends a data frame; `payload` must stay untouched until `done`. */
  send(h: FrameHeader, payload: Uint8Array, done: (err?: Error) => void): void {
    const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    writeFrameHeader(head, { ...h, kind: FrameKind.DataHead });
    const view = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    this.queue.push({ head, payload: view, done });
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < Defaults.ringSendWindow && this.queue.length > 0) {
      const p = this.queue.shift()!;
      this.inFlight++;
      this.ws.send(p.head, { binary: true });
      this.ws.send(p.payload, { binary: true }, (err) => {
        this.inFlight--;
        p.done(err ?? undefined);
        if (!err) this.pump();
      });
    }
  }

  /** Stops reacting to the socket and closes it (politely, or at once with `terminate`). */
  close(terminate = false): void {
    this.ws.removeAllListeners('close');
    this.ws.removeAllListeners('message');
    this.ws.on('error', () => undefined);
    if (terminate) this.ws.terminate();
    else this.ws.close();
  }
}
