/**
 * A worker's ring listener. It accepts exactly one predecessor per generation: a connection must
 * send a hello frame naming the generation and its rank within a short timeout, or it is closed.
 * A hello for a generation this worker has not started yet (its neighbour was quicker) is parked
 * until the worker asks for that predecessor. Acceptance is acknowledged with a hello frame back,
 * so the dialer knows its link is really part of the ring. Everything after the hello belongs to
 * the RingCollective of that generation.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { Defaults } from '../shared/constants.js';
import { ErrorCodes, RingtrainError } from '../shared/errors.js';
import { FRAME_HEADER_BYTES, FrameKind, readFrameHeader, writeFrameHeader } from '../shared/codec.js';
import type { Logger } from '../shared/logger.js';

interface Parked {
  generation: number;
  rank: number;
  ws: WebSocket;
  timer: NodeJS.Timeout;
}

interface Expectation {
  generation: number;
  rank: number;
  resolve: (ws: WebSocket) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class RingServer {
  private expectation: Expectation | null = null;
  private parked: Parked[] = [];

  private constructor(private readonly wss: WebSocketServer, readonly port: number, private readonly log: Logger) {
    wss.on('connection', (ws, req) => this.onConnection(ws, req.socket.remoteAddress ?? '?'));
  }

  /** Listens on host:port (0 = any free port). */
  static listen(host: string, port: number, log: Logger): Promise<RingServer> {
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({
        host,
        port,
        perMessageDeflate: false,
        // A data frame is one chunk plus its header; nothing legitimate is larger.
        maxPayload: Defaults.ringChunkBytes + FRAME_HEADER_BYTES,
      });
      wss.once('error', (err) => reject(new RingtrainError(ErrorCodes.RING_FAILED, `cannot listen for ring peers on ${host}:${port}: ${err.message}`)));
      wss.once('listening', () => resolve(new RingServer(wss, (wss.address() as AddressInfo).port, log)));
    });
  }

  /** Resolves with the predecessor's socket once it has said hello for this generation. */
  awaitPredecessor(generation: number, rank: number, timeoutMs: number): Promise<WebSocket> {
    this.expectation?.reject(new RingtrainError(ErrorCodes.ABORTED, 'superseded by a newer generation'));
    this.expectation = null;
    // Parked hellos of older generations are dead ends now.
    for (const p of this.parked.filter((x) => x.generation < generation)) this.unpark(p, true);
    const early = this.parked.find((p) => p.generation === generation && p.rank === rank);
    if (early) {
      this.unpark(early, false);
      return Promise.resolve(this.accept(early.ws));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.expectation = null;
        reject(new RingtrainError(ErrorCodes.TIMEOUT, `ring predecessor (rank ${rank}, generation ${generation}) did not connect within ${timeoutMs} ms`));
      }, timeoutMs);
      this.expectation = { generation, rank, resolve, reject, timer };
    });
  }

  private onConnection(ws: WebSocket, remote: string): void {
    const timer = setTimeout(() => {
      this.log.warn({ remote }, 'ring connection sent no hello in time; closing');
      ws.terminate();
    }, Defaults.helloTimeoutMs);
    ws.on('error', (err) => this.log.debug({ remote, err: err.message }, 'ring connection error before hello'));
    ws.once('message', (data: Buffer, isBinary: boolean) => {
      clearTimeout(timer);
      const exp = this.expectation;
      let reason: string | null = null;
      let park: { generation: number; rank: number } | null = null;
      try {
        if (!isBinary) throw new RingtrainError(ErrorCodes.BAD_FRAME, 'text frame on a ring link');
        const h = readFrameHeader(data);
        if (h.kind !== FrameKind.Hello) reason = 'first frame is not a hello';
        else if (exp && h.generation === exp.generation && h.seq === exp.rank) reason = null;
        else if (!exp || h.generation > exp.generation) park = { generation: h.generation, rank: h.seq };
        else reason = `hello from rank ${h.seq} generation ${h.generation}, expected rank ${exp.rank} generation ${exp.generation}`;
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err);
      }
      if (reason !== null) {
        this.log.warn({ remote, reason }, 'refused ring connection');
        ws.close(1008, 'refused');
        return;
      }
      if (park) {
        // One parked hello per (generation, rank): a newer one replaces it.
        for (const p of this.parked.filter((x) => x.generation === park.generation && x.rank === park.rank)) this.unpark(p, true);
        const timer = setTimeout(() => this.unpark(entry, true), Defaults.ringConnectTimeoutMs);
        const entry: Parked = { ...park, ws, timer };
        this.parked.push(entry);
        ws.pause();
        return;
      }
      clearTimeout(exp!.timer);
      this.expectation = null;
      exp!.resolve(this.accept(ws));
    });
  }

  /** Acknowledges the hello and holds further frames until the collective attaches its handler. */
  private accept(ws: WebSocket): WebSocket {
    const ack = Buffer.alloc(FRAME_HEADER_BYTES);
    writeFrameHeader(ack, { kind: FrameKind.Hello, dtype: 0, hop: 0, generation: 0, seq: 0, offset: 0, count: 0 });
    ws.send(ack);
    ws.pause();
    return ws;
  }

  private unpark(p: Parked, close: boolean): void {
    clearTimeout(p.timer);
    this.parked = this.parked.filter((x) => x !== p);
    if (close) p.ws.close(1008, 'stale');
  }

  close(): Promise<void> {
    for (const p of [...this.parked]) this.unpark(p, true);
    this.expectation?.reject(new RingtrainError(ErrorCodes.ABORTED, 'ring server closed'));
    this.expectation = null;
    for (const c of this.wss.clients) c.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}
