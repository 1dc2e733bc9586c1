/**
 * A worker's ring listener. It accepts exactly one predecessor per generation: every connection
 * is challenged with a fresh nonce and must answer with a hello proving this generation's ring
 * key for the expected rank (ring-handshake.ts). A hello that arrives before this rank knows the
 * generation is parked until it does (ranks start at slightly different times). Everything after
 * the handshake belongs to the RingCollective of that generation.
 */
import type { WebSocket } from 'ws';
import { Defaults } from '../shared/constants.js';
import { ErrorCodes, RingtrainError } from '../shared/errors.js';
import { FRAME_HEADER_BYTES } from '../shared/codec.js';
import { newNonce } from '../shared/auth.js';
import { listenWebSocket, type Listener } from '../shared/listen.js';
import { warnIfInsecure } from '../shared/exposure.js';
import type { TlsMaterial } from '../shared/tls.js';
import type { Logger } from '../shared/logger.js';
import { AUTH_CLOSE_REASON, acceptFrame, challengeFrame, helloValid, parseHello, type RingHello } from './ring-handshake.js';

interface Expectation {
  generation: number;
  rank: number;
  ringKey: Uint8Array;
  resolve: (ws: WebSocket) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** A connection that has not completed the handshake. */
interface Candidate {
  ws: WebSocket;
  remote: string;
  nonce: Buffer;
  hello: RingHello | null;
  timer: NodeJS.Timeout;
  onMessage: (data: Buffer, isBinary: boolean) => void;
}

export interface RingServerOptions {
  tls: TlsMaterial | null;
  token: string | null;
  insecure: boolean;
}

export class RingServer {
  private expectation: Expectation | null = null;
  /** Highest generation whose predecessor this listener has accepted. */
  private formed = 0;
  private readonly candidates = new Set<Candidate>();
  private listener!: Listener;

  private constructor(private readonly log: Logger) {}

  get port(): number {
    return this.listener.port;
  }

  /** URL scheme ring peers must use. */
  get scheme(): 'ws' | 'wss' {
    return this.listener.tls ? 'wss' : 'ws';
  }

  /** Listens on host:port (0 = any free port). */
  static async listen(host: string, port: number, log: Logger, opts: RingServerOptions = { tls: null, token: null, insecure: false }): Promise<RingServer> {
    warnIfInsecure('ring listener', host, opts.token, opts.insecure, log);
    const server = new RingServer(log);
    server.listener = await listenWebSocket({
      host, port, tls: opts.tls, log, what: 'ring listener', bindErrorCode: ErrorCodes.RING_FAILED,
      // A data frame is one chunk plus its header; nothing legitimate is larger.
      maxPayload: Defaults.ringChunkBytes + FRAME_HEADER_BYTES,
      admit: () => server.candidates.size < Defaults.maxPendingConnections,
      onConnection: (ws, req) => server.onConnection(ws, req.socket.remoteAddress ?? '?'),
    });
    return server;
  }

  /** Resolves with the predecessor's socket once it has proved `ringKey` for this generation and rank. */
  awaitPredecessor(generation: number, rank: number, ringKey: Uint8Array, timeoutMs: number): Promise<WebSocket> {
    this.expectation?.reject(new RingtrainError(ErrorCodes.ABORTED, 'superseded by a newer generation'));
    const p = new Promise<WebSocket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.expectation = null;
        reject(new RingtrainError(ErrorCodes.TIMEOUT, `ring predecessor (rank ${rank}, generation ${generation}) did not connect within ${timeoutMs} ms`));
      }, timeoutMs);
      this.expectation = { generation, rank, ringKey, resolve, reject, timer };
    });
    for (const c of [...this.candidates]) if (c.hello) this.decide(c);
    return p;
  }

  private onConnection(ws: WebSocket, remote: string): void {
    let strikes = 0;
    const c: Candidate = {
      ws, remote, nonce: newNonce(), hello: null,
      timer: setTimeout(() => this.refuse(c, ErrorCodes.TIMEOUT, 'no valid ring hello in time'), Defaults.helloTimeoutMs),
      onMessage: (data, isBinary) => {
        if (c.hello) return;
        try {
          c.hello = parseHello(data, isBinary);
        } catch (err) {
          this.log.warn({ remote, code: ErrorCodes.BAD_FRAME, err: err instanceof Error ? err.message : String(err) }, 'bad frame before ring hello dropped');
          if (++strikes >= Defaults.maxBadMessagesBeforeAuth) this.refuse(c, ErrorCodes.BAD_FRAME, `${strikes} bad frames before hello`);
          return;
        }
        this.decide(c);
      },
    };
    this.candidates.add(c);
    ws.on('message', c.onMessage);
    ws.on('close', () => this.drop(c));
    ws.on('error', (err) => this.log.debug({ remote, err: err.message }, 'ring connection error before hello'));
    ws.send(challengeFrame(c.nonce));
  }

  /** Accepts, refuses or parks a candidate whose hello has arrived. */
  private decide(c: Candidate): void {
    const h = c.hello!;
    const exp = this.expectation;
    if (!exp || exp.generation < h.generation) {
      // Its generation may not have reached this rank yet; only a generation already formed here is settled.
      if (h.generation <= this.formed) this.refuse(c, ErrorCodes.AUTH_FAILED, `hello for generation ${h.generation}, whose ring is already formed`);
      return;
    }
    if (h.generation !== exp.generation || h.rank !== exp.rank || !helloValid(exp.ringKey, c.nonce, h)) {
      this.refuse(c, ErrorCodes.AUTH_FAILED, `hello claiming rank ${h.rank} generation ${h.generation} failed authentication (expected rank ${exp.rank} generation ${exp.generation})`);
      return;
    }
    this.drop(c);
    clearTimeout(exp.timer);
    this.expectation = null;
    this.formed = Math.max(this.formed, exp.generation);
    // Hold further frames until the collective has attached its handler.
    c.ws.pause();
    c.ws.send(acceptFrame(exp.ringKey, h));
    exp.resolve(c.ws);
  }

  private refuse(c: Candidate, code: RingtrainError['code'], reason: string): void {
    this.log.warn({ remote: c.remote, code, reason }, 'refused ring connection');
    this.drop(c);
    c.ws.close(1008, code === ErrorCodes.AUTH_FAILED ? AUTH_CLOSE_REASON : code);
  }

  private drop(c: Candidate): void {
    if (!this.candidates.delete(c)) return;
    clearTimeout(c.timer);
    c.ws.off('message', c.onMessage);
  }

  close(): Promise<void> {
    this.expectation?.reject(new RingtrainError(ErrorCodes.ABORTED, 'ring server closed'));
    this.expectation = null;
    for (const c of [...this.candidates]) this.drop(c);
    return this.listener.close();
  }
}
