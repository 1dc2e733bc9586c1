/**
 * The ring link handshake, both sides. The listener sends a challenge (its nonce); the dialler
 * answers with a hello naming its generation and rank, proving the generation's ring key over
 * that nonce, and adding a nonce of its own; the listener checks it and answers with an accept
 * proving the same key over the dialler's nonce. Only then does gradient data flow, so a stranger
 * (or a rank of another generation) never gets a frame into a reduction, and a dialler never
 * sends gradients to something that is not its successor.
 *
 * After the handshake both ends take the socket from `ws` (ws-takeover.ts) and PeerLink speaks the
 * framing itself; the dialler then sends `Ready`, the listener's cue that it may send too.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { AUTH_BYTES, newNonce, proofMatches, ringAcceptProof, ringHelloProof } from '../protocol/auth.js';
import { FRAME_HEADER_BYTES, FrameKind, HANDSHAKE_PAYLOAD, LinkKind, readFrameHeader, writeFrameHeader } from '../protocol/codec.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { clientTlsOptions, explainTlsError, type TlsMaterial } from './tls.js';
import { readyFrame } from './ring-frames.js';
import { takeSocket } from './ws-takeover.js';
import type { RingLink } from './peer-link.js';

/** A local endpoint name as RingServer makes them (a URL can carry anything: this is checked). */
const LOCAL_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** The ring URL of a listener: scheme, host, port, and its local endpoint (if any) as `?local=`. */
export function ringUrl(scheme: 'ws' | 'wss', host: string, port: number, local: string | null): string {
  const base = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return local ? `${base}/?local=${local}` : base;
}

/**
 * The local (abstract Unix socket) endpoint a ring URL names, or null: none named, not a
 * well-formed name, TLS (the Unix socket carries no TLS), or not Linux. Reachable only from the
 * listener's network namespace; elsewhere connecting fails at once and the dialler uses TCP.
 */
export function localEndpoint(url: string): string | null {
  if (process.platform !== 'linux') return null;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  const name = u.searchParams.get('local');
  return u.protocol === 'ws:' && name !== null && LOCAL_NAME.test(name) ? name : null;
}

/** Close reason a listener sends when a hello's credentials are wrong; the dialler stops retrying. */
export const AUTH_CLOSE_REASON = ErrorCodes.AUTH_FAILED;
/**
 * Largest message `ws` accepts on a ring link, either end (a hello is 84 bytes): it reads only the
 * handshake; everything after it is read by PeerLink.
 */
export const HANDSHAKE_MAX_BYTES = 1024;

/** Hello and accept carry the dialling rank in `seq` and the link kind in `hop`. */
function frame(kind: number, generation: number, rank: number, link: number, ...parts: Uint8Array[]): Buffer {
  const count = HANDSHAKE_PAYLOAD[kind] ?? 0;
  const f = Buffer.alloc(FRAME_HEADER_BYTES + count);
  writeFrameHeader(f, { kind, dtype: 0, hop: link, generation, seq: rank, offset: 0, count });
  let at = FRAME_HEADER_BYTES;
  for (const p of parts) {
    f.set(p, at);
    at += p.length;
  }
  return f;
}

export function challengeFrame(nonce: Uint8Array): Buffer {
  return frame(FrameKind.Challenge, 0, 0, LinkKind.Ring, nonce);
}

/** A parsed ring hello. */
export interface RingHello {
  generation: number;
  rank: number;
  /** LinkKind: the ring, or a mesh link of the small-message all-reduce. */
  link: number;
  proof: Buffer;
  nonce: Buffer;
}

/** Parses a frame as a hello; throws RT_BAD_FRAME when it is anything else. */
export function parseHello(data: Buffer, isBinary: boolean): RingHello {
  if (!isBinary) throw new RingtrainError(ErrorCodes.BAD_FRAME, 'text frame on a ring link');
  const h = readFrameHeader(data);
  if (h.kind !== FrameKind.Hello) throw new RingtrainError(ErrorCodes.BAD_FRAME, `expected a ring hello, got frame kind ${h.kind}`);
  const p = data.subarray(FRAME_HEADER_BYTES);
  return { generation: h.generation, rank: h.seq, link: h.hop, proof: p.subarray(0, AUTH_BYTES), nonce: p.subarray(AUTH_BYTES) };
}

export function acceptFrame(ringKey: Uint8Array, hello: RingHello): Buffer {
  return frame(FrameKind.Accept, hello.generation, hello.rank, hello.link, ringAcceptProof(ringKey, hello.nonce, hello.generation, hello.rank, hello.link));
}

export function helloValid(ringKey: Uint8Array, nonce: Uint8Array, hello: RingHello): boolean {
  return proofMatches(ringHelloProof(ringKey, nonce, hello.generation, hello.rank, hello.link), hello.proof);
}

export interface DialOptions {
  url: string;
  generation: number;
  rank: number;
  ringKey: Uint8Array;
  tls: TlsMaterial | null;
  timeoutMs: number;
  /** LinkKind (absent: the ring). */
  link?: number;
  /** Connect through this local endpoint (localEndpoint) instead of the URL's TCP address. */
  local?: string | null;
}

/** An error after which dialling again cannot help (wrong key, TLS mismatch). */
export class FatalDialError extends Error {
  constructor(readonly error: RingtrainError) {
    super(error.message);
  }
}

const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

/**
 * One dial attempt: open, answer the challenge, check the accept. Resolves with the link ready
 * for data; rejects with FatalDialError when retrying is pointless, any other error otherwise.
 */
export function dialOnce(o: DialOptions): Promise<RingLink> {
  // Worker-to-worker links have no proxies in between, so an all-zero mask costs nothing in
  // safety and saves masking every gradient byte (`ws` skips an all-zero mask).
  const link = o.link ?? LinkKind.Ring;
  const local = o.local ?? null;
  const ws = new WebSocket(o.url, {
    perMessageDeflate: false, generateMask: zeroMask, handshakeTimeout: Math.max(1, o.timeoutMs), maxPayload: HANDSHAKE_MAX_BYTES, ...clientTlsOptions(o.tls),
    ...(local !== null ? { createConnection: () => netConnect({ path: `\0${local}` }) } : {}),
  });
  const myNonce = newNonce();
  let stage: 'challenge' | 'accept' = 'challenge';
  let socket: Socket | null = null;
  ws.once('upgrade', (res) => {
    socket = res.socket as Socket;
  });
  return new Promise<RingLink>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no ring handshake within ${o.timeoutMs} ms`)), o.timeoutMs);
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      ws.off('close', onClose);
      ws.off('error', onError);
      if (err === null && socket !== null) {
        // Synchronously, inside the accept's message event, so `ws` parses nothing after it.
        const s = takeSocket(ws, socket);
        s.write(readyFrame());
        return resolve({ socket: s, dialler: true, local: local !== null });
      }
      if (err === null) err = new Error('no socket behind the ring WebSocket');
      ws.on('error', () => undefined);
      ws.terminate();
      reject(err);
    };
    const onMessage = (data: Buffer, isBinary: boolean): void => {
      try {
        if (!isBinary) throw new RingtrainError(ErrorCodes.BAD_FRAME, 'text frame from ring successor');
        const h = readFrameHeader(data);
        const payload = data.subarray(FRAME_HEADER_BYTES);
        if (stage === 'challenge' && h.kind === FrameKind.Challenge) {
          ws.send(frame(FrameKind.Hello, o.generation, o.rank, link, ringHelloProof(o.ringKey, payload, o.generation, o.rank, link), myNonce));
          stage = 'accept';
        } else if (stage === 'accept' && h.kind === FrameKind.Accept && h.generation === o.generation && h.seq === o.rank && h.hop === link) {
          if (!proofMatches(ringAcceptProof(o.ringKey, myNonce, o.generation, o.rank, link), payload)) {
            throw new FatalDialError(new RingtrainError(ErrorCodes.AUTH_FAILED, `ring successor ${o.url} could not prove this generation's ring key`));
          }
          done(null);
        } else {
          throw new RingtrainError(ErrorCodes.BAD_FRAME, `unexpected frame kind ${h.kind} during the ring handshake`);
        }
      } catch (err) {
        done(err instanceof FatalDialError ? err : new FatalDialError(err instanceof RingtrainError ? err : new RingtrainError(ErrorCodes.BAD_FRAME, String(err))));
      }
    };
    const onClose = (code: number, reason: Buffer): void => {
      if (code === 1008 && reason.toString() === AUTH_CLOSE_REASON) {
        done(new FatalDialError(new RingtrainError(ErrorCodes.AUTH_FAILED, `ring successor ${o.url} refused this rank's credentials for generation ${o.generation}`)));
      } else done(new Error(`closed during the ring handshake (${code})`));
    };
    const onError = (err: Error): void => {
      const tls = explainTlsError(o.url, err);
      done(tls ? new FatalDialError(tls) : err);
    };
    ws.on('message', onMessage);
    ws.on('close', onClose);
    ws.on('error', onError);
  });
}
