/**
 * One worker-to-worker link after its handshake (ring-handshake.ts). The handshake runs over the
 * `ws` library; then the link takes the TCP (or TLS) socket over and speaks the same WebSocket
 * framing itself, because `ws` would copy every message out of the socket reads before handing it
 * on, and that copy was the largest single cost of the ring:
 * - receiving: RingStreamReader parses the frames straight from each socket read and streams every
 *   payload into the place its header names (the collective adds gradients from the read buffers);
 * - sending: a data frame is its headers in one small buffer, then a view of the caller's buffer,
 *   written together (one writev, no copy). The caller leaves those bytes alone until `done`,
 *   which fires once the socket has handed them to the kernel. A window bounds the frames handed
 *   to the socket at once; the rest wait here in order (back-pressure without unbounded buffers).
 *
 * Where the caller gives a read buffer, the link moves its connection onto a socket that reads
 * into that one buffer (fixed-read.ts) instead of a fresh allocation per read.
 *
 * The dialler masks with an all-zero key (the payload goes out unchanged). The listener sends
 * nothing until the dialler's `Ready` frame shows the dialler has taken its socket from `ws` too:
 * anything arriving before that could have been parsed, and lost, inside `ws`.
 */
import type { Socket } from 'node:net';
import { Defaults } from '../base/constants.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import type { FrameHeader } from '../protocol/codec.js';
import { RingStreamReader, type Route } from './ring-stream.js';
import { dataFrameHead, wsCloseFrame } from './ring-frames.js';
import { readIntoOwnBuffers, type ReadTargets } from './fixed-read.js';

/** A link's socket once its handshake is done, and which end of it this rank is. */
export interface RingLink {
  socket: Socket;
  /** This rank dialled (it masks, and it sent `Ready`). */
  dialler: boolean;
  /** The dialler connected over the listener's local (Unix socket) endpoint. */
  local?: boolean;
}

/** What a link does with incoming data frames (see RingStreamReader). */
export interface LinkHandlers {
  route(h: FrameHeader): Route;
  end(h: FrameHeader, route: Route, payload: Buffer | null): void;
}

/** A socket listener (each is registered for the event it was written for). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type SocketListener = (...args: any[]) => void;

interface Pending {
  head: Buffer;
  payload: Uint8Array;
  done: (err?: Error) => void;
}

/** How long a politely closed link waits for its peer's close before destroying the socket. */
const CLOSE_GRACE_MS = 1_000;

export class PeerLink {
  private readonly socket: Socket;
  /** The socket reads into the caller's fixed buffer (fixed-read.ts), not a fresh one per read. */
  readonly fixedReads: boolean;
  private readonly dialler: boolean;
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  /** Sending is allowed: at once for the dialler, after `Ready` for the listener. */
  private open: boolean;
  private closed = false;
  /** Runs input handling unless closed; malformed input and its failures go to onError. */
  private readonly guard: (fn: () => void) => void;
  /** Stops reads into placed views (fixed-read.ts), for a socket that reads into a fixed buffer. */
  private readonly detach: (() => void) | null;
  /** This link's own socket listeners (`ws` keeps its close handler, which does its bookkeeping). */
  private readonly listeners: Record<'data' | 'end' | 'close' | 'error', SocketListener>;

  /**
   * `onError` gets malformed input and socket failures (`what` names the peer in messages);
   * `alloc` gives the buffers whole frames are gathered into (see RingStreamReader); with
   * `readBuffer` the socket reads into it where the connection allows (fixed-read.ts), and with
   * `placing` too, payloads the handlers store unchanged are read straight into place.
   */
  constructor(link: RingLink, readonly what: string, handlers: LinkHandlers, onError: (err: Error) => void, alloc?: (bytes: number) => Buffer, readBuffer?: Buffer | null, placing = false) {
    this.dialler = link.dialler;
    this.open = link.dialler;
    const gone = (): void => onError(new RingtrainError(ErrorCodes.RING_FAILED, `${what} closed`));
    const reader = new RingStreamReader(Defaults.ringMaxMessageBytes, {
      route: handlers.route,
      end: handlers.end,
      ready: () => {
        if (this.dialler) throw new RingtrainError(ErrorCodes.BAD_FRAME, 'a ready frame from the listening side');
        this.open = true;
        this.pump();
      },
      closed: gone,
    }, alloc);
    this.guard = (fn) => {
      if (this.closed) return;
      try {
        fn();
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        onError(err instanceof RingtrainError && err.code !== ErrorCodes.BAD_FRAME ? err : new RingtrainError(ErrorCodes.BAD_FRAME, `bad frame from ${what}: ${msg}`));
      }
    };
    this.listeners = {
      data: (chunk: Buffer) => this.guard(() => reader.push(chunk)),
      end: gone,
      close: gone,
      error: (err: Error) => onError(new RingtrainError(ErrorCodes.RING_FAILED, `${what} failed: ${err.message}`)),
    };
    const fixed = readBuffer ? readIntoOwnBuffers(link.socket, readBuffer, this.readTargets(reader, readBuffer, placing)) : null;
    this.detach = fixed?.detach ?? null;
    this.socket = fixed?.socket ?? link.socket;
    this.fixedReads = fixed !== null;
    for (const [event, fn] of Object.entries(this.listeners)) this.socket.on(event, fn);
    this.socket.setNoDelay(true);
    // The socket was paused since its handshake: what arrived meanwhile is read now (a fixed-read
    // socket's first read comes on a later tick, after these).
    if (fixed) for (const chunk of fixed.pending) this.listeners.data(chunk);
    else this.socket.resume();
  }

  /**
   * Where each read goes. Without placing: the whole read buffer. With it, every read ends where
   * the frame part in progress ends (a header, or a payload), and a payload the handlers store
   * unchanged (an all-gather copy) is read straight into its place: no copy, at the price of one
   * small read for each frame's headers.
   */
  private readTargets(reader: RingStreamReader, buffer: Buffer, placing: boolean): ReadTargets {
    let direct = false;
    return {
      next: () => {
        direct = false;
        if (!placing || this.closed) return buffer;
        const into = reader.directTarget();
        if (into !== null) {
          direct = true;
          return into;
        }
        const room = reader.partRoom();
        return room < buffer.length ? buffer.subarray(0, room) : buffer;
      },
      read: (into, n) => {
        if (direct) this.guard(() => reader.placed(n));
        else this.listeners.data(buffer.subarray(0, n));
      },
    };
  }

  /** Sends a `Data` frame with header `h`; `payload` must stay untouched until `done`. */
  send(h: FrameHeader, payload: Uint8Array, done: (err?: Error) => void): void {
    this.queue.push({ head: dataFrameHead(h, payload.byteLength, this.dialler), payload, done });
    this.pump();
  }

  private pump(): void {
    while (this.open && !this.closed && this.inFlight < Defaults.ringSendWindow && this.queue.length > 0) {
      const p = this.queue.shift()!;
      this.inFlight++;
      this.socket.cork();
      this.socket.write(p.head);
      this.socket.write(p.payload, (err) => {
        this.inFlight--;
        p.done(err ?? undefined);
        if (!err) this.pump();
      });
      this.socket.uncork();
    }
  }

  /** Frames queued and in flight, and bytes the socket holds, for stall messages. */
  pending(): string {
    return `${this.queue.length} frames queued, ${this.inFlight} in flight, ${this.socket.writableLength} bytes unsent${this.open ? '' : ', waiting for ready'}`;
  }

  /** Stops reacting to the socket and closes it (politely, or at once with `terminate`). */
  close(terminate = false): void {
    if (this.closed) return;
    this.closed = true;
    // A polite close keeps reading until the peer's close: never into the caller's buffer again.
    this.detach?.();
    for (const [event, fn] of Object.entries(this.listeners)) this.socket.off(event, fn);
    this.socket.on('error', () => undefined);
    if (terminate || this.socket.destroyed) {
      this.socket.destroy();
      return;
    }
    this.socket.end(wsCloseFrame(this.dialler));
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }
}
