/**
 * The coordinator's WebSocket endpoint. It owns connection lifecycle and the edge rules: every
 * connection is challenged with a fresh nonce, must answer with an authenticated hello of the
 * same protocol version in time, and has every message validated before the run loop sees it.
 * What the messages mean is decided by the run loop, which reads them from one event mailbox.
 */
import { WebSocket } from 'ws';
import { Defaults, PROTOCOL_VERSION } from '../base/constants.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { decodeRaw, encodeMessage } from '../protocol/codec.js';
import { Mailbox } from '../base/mailbox.js';
import { WORKER_TYPES, claimedProtocol, parseMessage, type CoordinatorToWorker, type HelloMsg, type WorkerToCoordinator, type WorkerWire } from '../protocol/protocol.js';
import { controlProof, newNonce, proofMatches, welcomeProof } from '../protocol/auth.js';
import { listenWebSocket, type Listener } from './listen.js';
import { warnIfInsecure } from './exposure.js';
import type { TlsMaterial } from './tls.js';
import type { Logger } from '../base/logger.js';

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

/** What the run loop reads: a worker's messages (each step report on its own) and closed connections. */
export type ServerEvent =
  | { kind: 'message'; conn: WorkerConn; msg: WorkerToCoordinator }
  | { kind: 'closed'; conn: WorkerConn; reason: string };

export interface ControlServerOptions {
  /** Shared secret a hello must prove; null = no authentication (loopback or --insecure). */
  token: string | null;
  tls: TlsMaterial | null;
  /** Largest message a worker may send (sized from the job by limits.ts). */
  maxPayload: number;
  insecure: boolean;
}

function isFromWorker(m: { type: string }): m is WorkerWire {
  return WORKER_TYPES.has(m.type);
}

export class ControlServer {
  readonly events = new Mailbox<ServerEvent>();
  private nextId = 1;
  /** Sockets that have not yet sent an accepted hello. */
  private pending = 0;
  private listener!: Listener;
  private readonly conns = new Map<WebSocket, WorkerConn>();
  private readonly heartbeat: NodeJS.Timeout;

  private constructor(private readonly opts: ControlServerOptions, private readonly log: Logger) {
    // Heartbeats: a worker that stops answering pings is lost even if its TCP connection lingers
    // (a frozen process, a silent partition), so membership never waits on a dead peer.
    this.heartbeat = setInterval(() => {
      const now = Date.now();
      for (const [ws, conn] of this.conns) {
        if (now - conn.lastSeen > Defaults.heartbeatTimeoutMs) {
          this.log.warn({ code: ErrorCodes.WORKER_LOST, conn: conn.id, silentMs: now - conn.lastSeen }, 'worker missed its heartbeats; dropping it');
          ws.terminate();
        } else if (ws.readyState === WebSocket.OPEN) {
          ws.ping();
        }
      }
    }, Defaults.heartbeatIntervalMs);
    this.heartbeat.unref();
  }

  get port(): number {
    return this.listener.port;
  }

  /** URL scheme workers must use. */
  get scheme(): 'ws' | 'wss' {
    return this.listener.tls ? 'wss' : 'ws';
  }

  static async listen(host: string, port: number, log: Logger, opts: ControlServerOptions): Promise<ControlServer> {
    warnIfInsecure('coordinator', host, opts.token, opts.insecure, log);
    const server = new ControlServer(opts, log);
    server.listener = await listenWebSocket({
      host, port, maxPayload: opts.maxPayload, tls: opts.tls, log, what: 'coordinator', bindErrorCode: ErrorCodes.BAD_CONFIG,
      admit: () => server.pending < Defaults.maxPendingConnections,
      onConnection: (ws, req) => server.onConnection(ws, `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`),
    });
    return server;
  }

  private onConnection(ws: WebSocket, remote: string): void {
    const conn = new WorkerConn(this.nextId++, ws, remote);
    this.conns.set(ws, conn);
    ws.on('pong', () => {
      conn.lastSeen = Date.now();
    });
    const log = this.log.child({ conn: conn.id, remote });
    const nonce = newNonce();
    let strikes = 0;
    let counted = true;
    this.pending++;
    const authenticated = (): void => {
      if (counted) this.pending--;
      counted = false;
    };
    const helloTimer = setTimeout(() => {
      if (!conn.hello) {
        log.warn({ code: ErrorCodes.TIMEOUT }, 'no authenticated hello in time; closing');
        conn.reject(ErrorCodes.TIMEOUT, `no hello within ${Defaults.helloTimeoutMs} ms`);
      }
    }, Defaults.helloTimeoutMs);
    conn.send({ type: 'challenge', protocol: PROTOCOL_VERSION, nonce, auth: this.opts.token !== null });

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      // A connection we are closing (refused, failed authentication) has been told why; what it
      // still sends (typically its own error report) is moot, not a protocol violation.
      if (ws.readyState !== WebSocket.OPEN) return;
      let msg: WorkerWire;
      try {
        if (!isBinary) throw new RingtrainError(ErrorCodes.BAD_MESSAGE, 'text frame on a control link');
        const raw = decodeRaw(data);
        const version = conn.hello ? null : claimedProtocol(raw);
        if (version !== null && version !== PROTOCOL_VERSION) {
          log.warn({ code: ErrorCodes.VERSION_MISMATCH, theirs: version, ours: PROTOCOL_VERSION }, 'protocol version mismatch');
          conn.reject(ErrorCodes.VERSION_MISMATCH, `worker speaks protocol ${version}, coordinator speaks ${PROTOCOL_VERSION}; run the same ringtrain version everywhere`);
          return;
        }
        const m = parseMessage(raw);
        if (!isFromWorker(m)) throw new RingtrainError(ErrorCodes.UNEXPECTED_MESSAGE, `a coordinator does not accept ${m.type} messages`);
        msg = m;
      } catch (err) {
        const e = err instanceof RingtrainError ? err : new RingtrainError(ErrorCodes.BAD_MESSAGE, String(err));
        log.warn({ code: e.code, err: e.message }, 'dropped bad message');
        // Garbage from a socket that has not authenticated costs a strike; enough of them, and
        // it is closed (an authenticated member's bad message is only dropped).
        if (!conn.hello && ++strikes >= Defaults.maxBadMessagesBeforeAuth) conn.reject(e.code, `${strikes} malformed messages before hello`);
        return;
      }
      if (!conn.hello && msg.type !== 'hello') {
        log.warn({ code: ErrorCodes.UNEXPECTED_MESSAGE, type: msg.type }, 'message before hello; closing');
        conn.reject(ErrorCodes.UNEXPECTED_MESSAGE, `expected hello, got ${msg.type}`);
        return;
      }
      if (msg.type === 'hello') {
        if (conn.hello) {
          log.warn({ code: ErrorCodes.UNEXPECTED_MESSAGE }, 'second hello dropped');
          return;
        }
        const token = this.opts.token;
        if (token !== null && !proofMatches(controlProof(token, nonce), msg.proof)) {
          log.warn({ code: ErrorCodes.AUTH_FAILED, host: msg.host, workerPid: msg.pid, proof: msg.proof !== null }, 'authentication failed; closing');
          conn.reject(ErrorCodes.AUTH_FAILED, msg.proof === null ? 'this coordinator requires a token: give the worker --token, --token-file or RINGTRAIN_TOKEN' : 'wrong token');
          return;
        }
        clearTimeout(helloTimer);
        authenticated();
        conn.hello = msg;
        conn.send({ type: 'welcome', proof: token === null ? null : welcomeProof(token, msg.nonce) });
      }
      // A batch of step reports is a transport matter: the run loop takes them one step at a time.
      if (msg.type === 'reports') for (const report of msg.reports) this.events.push({ kind: 'message', conn, msg: report });
      else this.events.push({ kind: 'message', conn, msg });
    });
    ws.on('close', (code, reason) => {
      clearTimeout(helloTimer);
      this.conns.delete(ws);
      authenticated();
      // Only connections that said hello exist for the run loop; the rest never entered it.
      if (conn.hello) this.events.push({ kind: 'closed', conn, reason: `socket closed (${code}${reason.length ? ` ${reason.toString()}` : ''})` });
    });
    ws.on('error', (err) => {
      const code = (err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? ErrorCodes.TOO_LARGE : ErrorCodes.BAD_MESSAGE;
      log.warn({ code, err: err.message }, 'connection error');
    });
  }

  close(): Promise<void> {
    clearInterval(this.heartbeat);
    return this.listener.close();
  }
}
