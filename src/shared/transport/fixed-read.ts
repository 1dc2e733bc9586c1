/**
 * The one place ringtrain relies on Node's socket internals. Moves a plain TCP (or Unix socket)
 * connection onto a socket whose reads go into buffers its owner chooses (Node's `onread` socket
 * option), for the ring's data links: one fixed buffer, or straight into the place the bytes
 * belong (peer-link.ts reads all-gather payloads into the gradient buffer).
 *
 * Why: an ordinary socket allocates a fresh 64 KiB buffer for every read, each with its
 * allocation, page faults and JavaScript callback; a socket reading into one 1 MiB buffer takes
 * what the kernel holds in one call. And when the buffer lives in the fusion buffer's
 * KernelArena, received gradients are added from where the read put them, with no copy at all
 * (ring-allreduce.ts). `npm run bench:internals` runs both side by side (its fixed-read line):
 * a 16 MiB transfer between two processes takes a half to two thirds of the time, and under half
 * the receiver's CPU, of the same link reading through its ordinary socket.
 *
 * Node takes `onread` only when a socket is created, and ring links are opened by `ws` (the
 * handshake runs over it): so the connection's handle moves from the socket `ws` made to a new
 * net.Socket created with `onread`. That uses the socket's `_handle` field, which Node does not
 * document; wherever it is not as expected (TLS, a socket already ending or writing, another Node
 * whose sockets lack it) this returns null and the link keeps its ordinary socket, which gives the
 * same bytes, only slower (tests/unit/peer-link-reads.test.ts runs both). The contract test,
 * tests/unit/fixed-read.test.ts, fails if the running Node stops allowing the move.
 */
import { Socket, type SocketConstructorOpts } from 'node:net';
import { TLSSocket } from 'node:tls';

/** The parts of a libuv stream handle this uses. */
interface StreamHandle {
  reading?: boolean;
  readStop(): number;
  useUserBuffer(buffer: Uint8Array): void;
}

/** What Node keeps on a socket (not in its typings). */
interface SocketInternals {
  _handle: StreamHandle | null | undefined;
  _readableState?: { ended?: boolean };
}

export interface OwnReadSocket {
  /** The connection, now reading where `targets` says. */
  socket: Socket;
  /** Bytes the old socket had read but not delivered: the caller handles them before any read. */
  pending: Buffer[];
  /**
   * From now on every read goes into `home` and is dropped, the read already set up included:
   * after this the socket never writes into a view `targets` gave (whose owner may reuse that
   * memory once its operation has ended).
   */
  detach(): void;
}

/** Chooses where each read goes. */
export interface ReadTargets {
  /**
   * The destination of the next read, whose length caps it: a fixed buffer, a part of one (to stop
   * a read at a frame's end), or the final place of the bytes; kept valid until `read` is called.
   */
  next(): Uint8Array;
  /** `n` bytes were read into `into`, the view `next` gave for this read. */
  read(into: Uint8Array, n: number): void;
}

/**
 * Hands `old`'s connection to a new socket that reads where `targets` says. `home` (a buffer of
 * the caller's, not shared with anything) takes the reads once `detach` is called. `old` is
 * destroyed without closing the connection (so `ws` and the HTTP server forget it). Null when
 * that cannot be done; `old` is then untouched.
 */
export function readIntoOwnBuffers(old: Socket, home: Buffer, targets: ReadTargets): OwnReadSocket | null {
  const internals = old as unknown as SocketInternals;
  const handle = internals._handle;
  if (old instanceof TLSSocket || !handle || typeof (handle.useUserBuffer as unknown) !== 'function' || typeof handle.readStop !== 'function') return null;
  // A socket with writes in flight would see their completions land on the new socket; one that
  // has read its end of stream would never tell the new socket the peer is gone.
  if (old.destroyed || old.connecting || old.writableLength > 0 || internals._readableState?.ended !== false) return null;
  handle.reading = false;
  handle.readStop();
  internals._handle = null;
  // Whatever the old socket read but has not delivered (it was paused since its handshake).
  const pending: Buffer[] = [];
  for (let chunk = old.read() as Buffer | null; chunk !== null; chunk = old.read() as Buffer | null) pending.push(chunk);
  let detached = false;
  // Node asks for each read's buffer after the previous read's callback (and once at the start),
  // and hands the callback the buffer it was given.
  const onread = {
    buffer: (): Uint8Array => (detached ? home : targets.next()),
    callback: (n: number, into: Uint8Array): void => {
      if (!detached) targets.read(into, n);
    },
  };
  // `handle` is how net.Server builds its sockets; the typings leave it out.
  const socket = new Socket({ handle, onread } as SocketConstructorOpts);
  // With no handle left, destroying only emits `close`: `ws` and the listener drop their records.
  old.destroy();
  const detach = (): void => {
    detached = true;
    // The read already set up may target a caller's view: point it at `home`.
    (socket as unknown as SocketInternals)._handle?.useUserBuffer(home);
  };
  return { socket, pending, detach };
}
