/**
 * A WebSocket listener with the edge rules every ringtrain port shares: an admission check at the
 * HTTP upgrade (so a flood of unauthenticated sockets is refused before any WebSocket state
 * exists), a maxPayload sized by the caller, plain HTTP answered with 426, and for TLS a first-byte
 * sniff so a plain ws:// client gets a clear "use wss://" answer instead of a reset socket.
 * Below the WebSocket, every socket (TCP, TLS or local) must finish its TLS handshake and HTTP
 * upgrade within helloTimeoutMs, and a source may hold at most maxPendingConnections such sockets:
 * half-open TLS handshakes cannot pile up until the process runs out of descriptors.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { Defaults } from '../base/constants.js';
import { ErrorCodes, RingtrainError, type ErrorCode } from '../base/errors.js';
import { servesTls, type TlsMaterial } from './tls.js';
import type { Logger } from '../base/logger.js';
import { RateLimitedLog, sourceOf } from '../base/rate-log.js';

export interface ListenOptions {
  host: string;
  port: number;
  maxPayload: number;
  tls: TlsMaterial | null;
  /** Called at each upgrade with the source address: false refuses it with 503 (too many unauthenticated sockets). */
  admit: (source: string) => boolean;
  onConnection: (ws: WebSocket, req: IncomingMessage) => void;
  log: Logger;
  /** What this listener is, for error messages ("coordinator", "ring listener"). */
  what: string;
  /** Code of the error thrown when the port cannot be bound. */
  bindErrorCode: ErrorCode;
  /**
   * Also listen on this Linux abstract Unix socket (no TLS only): peers in the same network
   * namespace reach the same WebSocket endpoint through it, without TCP (see ring-server.ts).
   */
  localName?: string | null;
}

export interface Listener {
  port: number;
  /** The abstract Unix socket also listened on, else null. */
  local: string | null;
  tls: boolean;
  wss: WebSocketServer;
  close(): Promise<void>;
}

const TLS_HANDSHAKE_RECORD = 0x16;
const PLAIN_TO_TLS = 'HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nthis ringtrain endpoint requires TLS: connect with wss://\n';

function refuse(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export async function listenWebSocket(o: ListenOptions): Promise<Listener> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: o.maxPayload });
  const tls = servesTls(o.tls) ? o.tls : null;
  // A TLS handshake must end as soon as an unauthenticated peer must say hello (Node allows 120 s).
  const http: HttpServer = tls ? createHttpsServer({ cert: tls.cert, key: tls.key, handshakeTimeout: Defaults.helloTimeoutMs }) : createHttpServer();
  const sockets = new Set<Socket>();
  const refusals = new RateLimitedLog(Defaults.refusalLogIntervalMs);
  const warnOnce = (source: string, fields: Record<string, unknown>, msg: string): void => {
    const r = refusals.admit(`${source}/${msg}`);
    if (r.log) o.log.warn({ ...fields, remote: source, heldBack: r.held }, msg);
  };
  // Raw sockets not yet upgraded to a WebSocket, by source: capped, and closed at the deadline.
  const early = new Map<string, Set<Socket>>();
  const upgraded = new WeakSet<Socket>();
  const guard = (sock: Socket): boolean => {
    const source = sourceOf(sock.remoteAddress);
    const set = early.get(source) ?? new Set<Socket>();
    if (set.size >= Defaults.maxPendingConnections) {
      warnOnce(source, { code: ErrorCodes.BUSY }, `${o.what}: too many sockets from one source before the upgrade; refused`);
      sock.destroy();
      return false;
    }
    set.add(sock);
    early.set(source, set);
    const settle = (): void => {
      clearTimeout(timer);
      set.delete(sock);
      if (set.size === 0 && early.get(source) === set) early.delete(source);
    };
    const timer = setTimeout(() => {
      settle();
      if (!upgraded.has(sock)) sock.destroy();
    }, Defaults.helloTimeoutMs);
    timer.unref();
    sock.once('close', settle);
    (sock as Socket & { settleEarly?: () => void }).settleEarly = settle;
    return true;
  };
  /** The raw socket under an upgraded request's socket (TLS wraps it), now past its upgrade. */
  const markUpgraded = (s: Duplex): void => {
    const raw = ((s as { _parent?: Socket })._parent ?? s) as Socket & { settleEarly?: () => void };
    upgraded.add(raw);
    raw.settleEarly?.();
  };
  // Sockets that never finish an HTTP upgrade are dropped as quickly as unauthenticated ones.
  http.headersTimeout = Defaults.helloTimeoutMs;
  http.requestTimeout = Defaults.helloTimeoutMs;
  http.on('request', (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
    res.end('ringtrain speaks WebSocket only\n');
  });
  http.on('upgrade', (req, socket, head) => {
    socket.on('error', () => undefined);
    const source = sourceOf(req.socket.remoteAddress);
    if (!o.admit(source)) {
      warnOnce(source, { code: ErrorCodes.BUSY }, `${o.what}: too many unauthenticated connections; refused`);
      refuse(socket, '503 Service Unavailable');
      return;
    }
    markUpgraded(socket);
    wss.handleUpgrade(req, socket, head, (ws) => o.onConnection(ws, req));
  });
  http.on('clientError', (err, socket) => {
    o.log.debug({ err: err.message }, `${o.what}: malformed HTTP from client`);
    if (socket.writable) refuse(socket, '400 Bad Request');
    else socket.destroy();
  });
  http.on('tlsClientError', (err, sock) => warnOnce(sourceOf(sock.remoteAddress), { code: ErrorCodes.TLS, err: err.message }, `${o.what}: TLS handshake failed`));

  let front: NetServer | HttpServer = http;
  if (tls) {
    front = createNetServer((sock) => {
      sock.on('error', () => undefined);
      if (!guard(sock)) return;
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      sock.on('error', () => undefined);
      sock.setTimeout(Defaults.helloTimeoutMs, () => sock.destroy());
      sock.once('data', (chunk: Buffer) => {
        sock.setTimeout(0);
        if (chunk[0] !== TLS_HANDSHAKE_RECORD) {
          warnOnce(sourceOf(sock.remoteAddress), { code: ErrorCodes.TLS }, `${o.what}: plain connection to a TLS endpoint refused (the client should use wss://)`);
          sock.end(PLAIN_TO_TLS);
          return;
        }
        sock.pause();
        sock.unshift(chunk);
        http.emit('connection', sock);
      });
    });
  } else {
    http.on('connection', (sock: Socket) => {
      if (!guard(sock)) return;
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
  }

  await new Promise<void>((resolve, reject) => {
    front.once('error', (err) => reject(new RingtrainError(o.bindErrorCode, `${o.what} cannot listen on ${o.host}:${o.port}: ${err.message}`)));
    front.listen(o.port, o.host, () => resolve());
  });
  front.removeAllListeners('error');
  front.on('error', (err) => o.log.error({ err: err.message }, `${o.what}: server error`));
  const addr = front.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : o.port;
  const local = tls === null && o.localName ? await listenLocal(o.localName, http, o.log, o.what) : null;
  return {
    port,
    local: local ? o.localName! : null,
    tls: tls !== null,
    wss,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        for (const s of sockets) s.destroy();
        wss.close();
        local?.close();
        front.close(() => resolve());
      }),
  };
}

/**
 * Listens on the abstract Unix socket `name` (Linux only: no file, gone with the process, visible
 * only inside this network namespace) and hands its connections to `http` like TCP ones. Null
 * where it cannot be had: the TCP port alone then serves.
 */
async function listenLocal(name: string, http: HttpServer, log: Logger, what: string): Promise<NetServer | null> {
  if (process.platform !== 'linux') return null;
  const server = createNetServer((sock) => http.emit('connection', sock));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(`\0${name}`, () => resolve());
    });
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, `${what}: no local (Unix socket) endpoint; peers on this host use TCP`);
    return null;
  }
  server.removeAllListeners('error');
  server.on('error', (err) => log.error({ err: err.message }, `${what}: local endpoint error`));
  return server;
}
