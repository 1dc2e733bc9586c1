/**
 * The coordinator's WebSocket endpoint. It owns connection lifecycle only: every connection gets
 * an id, must say hello in time, and has its messages validated at the edge. What the messages
 * mean is decided by the run loop, which reads them from one event mailbox.
 */
import { WebSocketServer, WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { Defaults } from '../shared/constants.js';
import { ErrorCodes, RingtrainError } from '../shared/errors.js';
import { decodeMessage, encodeMessage } from '../shared/codec.js';
import { Mailbox } from '../shared/mailbox.js';
import type { CoordinatorToWorker, HelloMsg, WorkerToCoordinator } from '../shared/protocol.js';
import type { Logger } from '../shared/logger.js';

const FROM_WORKER = new Set(['hello', 'ring-ready', 'step-done', 'state', 'ring-failed', 'error']);

/** One worker connection as the run loop sees it. */
export class WorkerConn {
  hello: HelloMsg | null = null;
  /** Last pong (or connect) time, for the heartbeat. */
  lastSeen = Date.now();
  constructor(readonly id: number, private readonly ws: WebSocket, readonly remote: string) {}

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(msg: CoordinatorToWorker): void {
    if (this.open) this.ws.send(encodeMessage(msg));
  }

  /** Sends a final error and closes, so the peer learns why before the socket goes. */
  reject(code: RingtrainError['code'], message: string): void {
    this.send({ type: 'error', code, message });
    this.ws.close(1008, code);
  }

  close(): void {
    this.ws.close(1000, 'done');
  }

  terminate(): void {
    this.ws.terminate();
  }

  /** Resolves when the socket is closed (or after `timeoutMs`). */
  closed(timeoutMs: number): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

export type ServerEvent =
  | { kind: 'message'; conn: WorkerConn; msg: WorkerToCoordinator }
  | { kind: 'closed'; conn: WorkerConn; reason: string };

export class ControlServer {
  readonly events = new Mailbox<ServerEvent>();
  private nextId = 1;
  private readonly conns = new Map<WebSocket, WorkerConn>();
  private readonly heartbeat: NodeJS.Timeout;

  private constructor(private readonly wss: WebSocketServer, readonly port: number, private readonly log: Logger) {
    wss.on('connection', (ws, req) => this.onConnection(ws, `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`));
    // Heartbeats: a worker that stops answering pings is lost even if its TCP connection lingers
    // (a frozen process, a silent partition), so membership never waits on a dead peer.
    this.heartbeat = setInterval(() => {
      const now = Date.now();
      for (const [ws, conn] of this.conns) {
        if (now - conn.lastSeen > Defaults.heartbeatTimeoutMs) {
          this.log.warn({ conn: conn.id, silentMs: now - conn.lastSeen }, 'worker missed its heartbeats; dropping it');
          ws.terminate();
        } else if (ws.readyState === WebSocket.OPEN) {
          ws.ping();
        }
      }
    }, Defaults.heartbeatIntervalMs);
    this.heartbeat.unref();
  }

  static listen(host: string, port: number, log: Logger): Promise<ControlServer> {
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: Defaults.maxControlPayloadBytes });
      wss.once('error', (err) => reject(new RingtrainError(ErrorCodes.BAD_CONFIG, `coordinator cannot listen on ${host}:${port}: ${err.message}`)));
      wss.once('listening', () => {
        wss.removeAllListeners('error');
        wss.on('error', (err) => log.error({ err: err.message }, 'server error'));
        resolve(new ControlServer(wss, (wss.address() as AddressInfo).port, log));
      });
    });
  }

  private onConnection(ws: WebSocket, remote: string): void {
    const conn = new WorkerConn(this.nextId++, ws, remote);
    this.conns.set(ws, conn);
    ws.on('pong', () => {
      conn.lastSeen = Date.now();
    });
    const log = this.log.child({ conn: conn.id, remote });
    const helloTimer = setTimeout(() => {
      if (!conn.hello) {
        log.warn('no hello in time; closing');
        conn.reject(ErrorCodes.TIMEOUT, `no hello within ${Defaults.helloTimeoutMs} ms`);
      }
    }, Defaults.helloTimeoutMs);
    ws.on('message', (data: Buffer) => {
      let msg: WorkerToCoordinator;
      try {
        const m = decodeMessage(data);
        if (!FROM_WORKER.has(m.type)) throw new RingtrainError(ErrorCodes.UNEXPECTED_MESSAGE, `a coordinator does not accept ${m.type} messages`);
        msg = m as WorkerToCoordinator;
      } catch (err) {
        const e = err instanceof RingtrainError ? err : new RingtrainError(ErrorCodes.BAD_MESSAGE, String(err));
        log.warn({ code: e.code, err: e.message }, 'dropped bad message');
        return;
      }
      if (!conn.hello && msg.type !== 'hello') {
        log.warn({ type: msg.type }, 'message before hello; closing');
        conn.reject(ErrorCodes.UNEXPECTED_MESSAGE, `expected hello, got ${msg.type}`);
        return;
      }
      if (msg.type === 'hello') {
        if (conn.hello) {
          log.warn('second hello dropped');
          return;
        }
        clearTimeout(helloTimer);
        conn.hello = msg;
      }
      this.events.push({ kind: 'message', conn, msg });
    });
    ws.on('close', (code, reason) => {
      clearTimeout(helloTimer);
      this.conns.delete(ws);
      this.events.push({ kind: 'closed', conn, reason: `socket closed (${code}${reason.length ? ` ${reason.toString()}` : ''})` });
    });
    ws.on('error', (err) => log.warn({ err: err.message }, 'connection error'));
  }

  close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const c of this.wss.clients) c.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}
