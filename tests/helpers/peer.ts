/**
 * A hand-driven peer for security tests: opens a real WebSocket to a coordinator or ring port and
 * records everything that comes back, so a test can play a stranger, a replayer or a fuzzer.
 */
import { WebSocket } from 'ws';
import { decodeRaw, encodeMessage, FRAME_HEADER_BYTES, FrameKind, readFrameHeader, writeFrameHeader } from '../../src/shared/protocol/codec.js';
import { parseMessage, type ChallengeMsg, type HelloMsg } from '../../src/shared/protocol/protocol.js';
import { PROTOCOL_VERSION } from '../../src/shared/base/constants.js';
import { controlProof } from '../../src/shared/protocol/auth.js';

export interface Peer {
  ws: WebSocket;
  /** Resolves once open (rejects with the connection error, e.g. a 503 or a TLS refusal). */
  opened: Promise<void>;
  /** Control messages received (decoded but unvalidated), or raw ring frames. */
  received: unknown[];
  closed: Promise<{ code: number; reason: string }>;
  /** The first `error` control message received, if any, once the socket closes. */
  errorCode(): Promise<string | null>;
  /** Sends and resolves when handed to the OS; false if the socket was not open. */
  send(data: Buffer | string): Promise<boolean>;
}

export function connectPeer(url: string, opts: { ca?: Buffer; raw?: boolean } = {}): Peer {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...(opts.ca ? { ca: opts.ca } : {}) });
  const received: unknown[] = [];
  ws.on('message', (data: Buffer) => {
    if (opts.raw) received.push(Buffer.from(data));
    else {
      try {
        received.push(decodeRaw(data));
      } catch {
        received.push(null);
      }
    }
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  opened.catch(() => undefined);
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return {
    ws, opened, received, closed,
    async errorCode() {
      await closed;
      for (const m of received) {
        if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'error') return String((m as { code?: unknown }).code);
      }
      return null;
    },
    send(data) {
      return new Promise((resolve) => {
        if (ws.readyState !== WebSocket.OPEN) return resolve(false);
        ws.send(data, (err) => resolve(!err));
      });
    },
  };
}

/** Waits for the coordinator's challenge on a control peer. */
export async function challengeOf(p: Peer, timeoutMs = 10_000): Promise<ChallengeMsg> {
  const deadline = Date.now() + timeoutMs;
  await p.opened;
  while (Date.now() < deadline) {
    const first = p.received[0];
    if (first !== undefined) {
      const m = parseMessage(first);
      if (m.type !== 'challenge') throw new Error(`expected a challenge, got ${m.type}`);
      return m;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('no challenge');
}

/** A well-formed hello; `token` null sends no proof. */
export function helloBytes(challenge: ChallengeMsg, token: string | null, over: Partial<HelloMsg> = {}): Buffer {
  const hello: HelloMsg = {
    type: 'hello', protocol: PROTOCOL_VERSION, ringUrl: 'ws://127.0.0.1:9', backend: 'cpu', host: 'attacker', pid: 1, job: null,
    appliedSteps: -1, stateFingerprint: null, proof: token === null ? null : controlProof(token, challenge.nonce), nonce: Buffer.alloc(32, 3), ...over,
  };
  return encodeMessage(hello);
}

/** A ring frame with an arbitrary header and payload (for strangers and fuzzing). */
export function ringFrame(h: { kind: number; dtype?: number; hop?: number; generation?: number; seq?: number; offset?: number; count: number }, payload: Buffer): Buffer {
  const f = Buffer.alloc(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(f, { kind: h.kind, dtype: h.dtype ?? 0, hop: h.hop ?? 0, generation: h.generation ?? 1, seq: h.seq ?? 0, offset: h.offset ?? 0, count: h.count });
  payload.copy(f, FRAME_HEADER_BYTES);
  return f;
}

/** The nonce in a ring listener's challenge frame. */
export async function ringChallengeOf(p: Peer, timeoutMs = 10_000): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  await p.opened;
  while (Date.now() < deadline) {
    const first = p.received[0];
    if (Buffer.isBuffer(first)) {
      const h = readFrameHeader(first);
      if (h.kind !== FrameKind.Challenge) throw new Error(`expected a ring challenge, got kind ${h.kind}`);
      return first.subarray(FRAME_HEADER_BYTES);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('no ring challenge');
}
