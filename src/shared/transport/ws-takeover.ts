/**
 * The one place ringtrain relies on how `ws` reads its socket. A ring link runs its handshake over
 * `ws`, then PeerLink takes the socket and speaks the WebSocket framing itself, because `ws` copies
 * every message out of the socket reads before handing it on: sending the same transfers as `ws`
 * messages takes longer and more receiver CPU (`npm run bench:internals`, its ws-takeover line).
 *
 * `ws` has no public way to hand its socket back, so this takes ws's own `data` listener off the
 * socket. That holds while `ws` reads only through that one listener and keeps nothing of the
 * stream between messages; tests/unit/ws-takeover.test.ts checks both against the installed `ws`,
 * so an upgrade that changes either fails there, not in a run. At run time a socket whose
 * listeners are not as expected is refused with RT_RING_FAILED rather than shared with `ws`.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { ErrorCodes, RingtrainError } from '../base/errors.js';

/** `ws` reads `socket` through exactly one `data` listener and nothing else, as takeSocket assumes. */
export function wsReadsAsAssumed(socket: Socket): boolean {
  return socket.listenerCount('data') === 1 && socket.listenerCount('readable') === 0;
}

/**
 * Takes a WebSocket's socket away from `ws` at a message boundary: `ws` stops reading it (its
 * close bookkeeping stays), and the socket is paused until a PeerLink reads it. Call it inside the
 * handshake's last message event, when the peer has no reason to have sent anything further.
 * Throws RT_RING_FAILED, leaving the socket to `ws`, when `ws` does not read it as assumed.
 */
export function takeSocket(ws: WebSocket, socket: Socket): Socket {
  if (!wsReadsAsAssumed(socket)) {
    throw new RingtrainError(ErrorCodes.RING_FAILED, `the installed ws reads its socket through ${socket.listenerCount('data')} data and ${socket.listenerCount('readable')} readable listeners, not the one data listener ring links take over (see ws-takeover.ts)`);
  }
  socket.removeAllListeners('data');
  socket.pause();
  ws.on('error', () => undefined);
  return socket;
}
