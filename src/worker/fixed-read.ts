/**
 * Moves a plain TCP connection onto a socket that reads into one fixed buffer (Node's `onread`
 * socket option), for the ring's data links.
 *
 * Why: an ordinary socket allocates a fresh 64 KiB buffer for every read, so a 16 MiB all-reduce
 * at N=2 costs about 260 reads per rank, each with its allocation, page faults and JavaScript
 * callback. A socket reading into one 1 MiB buffer takes what the kernel holds in one call. On a
 * 2-core VM, two processes exchanging 16 MiB each way over loopback took 14–15 ms with ordinary
 * reads (258 per exchange) and 9.2 ms reading into a fixed buffer (33 per exchange). And when the
 * buffer lives in the fusion buffer's KernelArena, received gradients are added from where the
 * read put them, with no copy at all (ring-collective.ts).
 *
 * Node takes `onread` only when a socket is created, and ring links are opened by `ws` (the
 * handshake runs over it): so the connection's handle moves from the socket `ws` made to a new
 * net.Socket created with `onread`. That uses the socket's `_handle` field, which Node does not
 * document; wherever it is not as expected (TLS, a socket already ending or writing, another Node
 * whose sockets lack it) this returns null and the link keeps its ordinary socket, which works the
 * same, only slower. tests/integration/fixed-read.test.ts fails if this Node stops allowing it.
 */
import { Socket, type SocketConstructorOpts } from 'node:net';
import { TLSSocket } from 'node:tls';

/** The parts of a libuv stream handle this uses. */
interface StreamHandle {
  reading?: boolean;
  readStop(): number;
  useUserBuffer?: unknown;
}

/** What Node keeps on a socket (not in its typings). */
interface SocketInternals {
  _handle: StreamHandle | null | undefined;
  _readableState?: { ended?: boolean };
}

export interface FixedReadSocket {
  /** The connection, now reading into the fixed buffer. */
  socket: Socket;
  /** Bytes the old socket had read but not delivered: the caller handles them before any read. */
  pending: Buffer[];
}

/**
 * Hands `old`'s connection to a new socket that reads into `buffer`, calling `onRead` with the
 * bytes of each read (a view of `buffer`, valid only during the call). `old` is destroyed without
 * closing the connection (so `ws` and the HTTP server forget it). Null when that cannot be done;
 * `old` is then untouched.
 */
export function readIntoFixedBuffer(old: Socket, buffer: Buffer, onRead: (bytes: Buffer) => void): FixedReadSocket | null {
  const internals = old as unknown as SocketInternals;
  const handle = internals._handle;
  if (old instanceof TLSSocket || !handle || typeof handle.useUserBuffer !== 'function' || typeof handle.readStop !== 'function') return null;
  // A socket with writes in flight would see their completions land on the new socket; one that
  // has read its end of stream would never tell the new socket the peer is gone.
  if (old.destroyed || old.connecting || old.writableLength > 0 || internals._readableState?.ended !== false) return null;
  handle.reading = false;
  handle.readStop();
  internals._handle = null;
  // Whatever the old socket read but has not delivered (it was paused since its handshake).
  const pending: Buffer[] = [];
  for (let chunk = old.read() as Buffer | null; chunk !== null; chunk = old.read() as Buffer | null) pending.push(chunk);
  // `handle` is how net.Server builds its sockets; the typings leave it out.
  const options = { handle, onread: { buffer, callback: (n: number): void => onRead(buffer.subarray(0, n)) } };
  const socket = new Socket(options as SocketConstructorOpts);
  // With no handle left, destroying only emits `close`: `ws` and the listener drop their records.
  old.destroy();
  return { socket, pending };
}
