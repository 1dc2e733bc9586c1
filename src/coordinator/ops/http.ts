/**
 * The coordinator's HTTP side: `/metrics` (Prometheus text), `/status` (JSON) and `/` (the live
 * dashboard, one self-contained page that polls `/status`). Read-only: nothing here can change
 * training state, and a failing request is answered 500 and logged, never thrown.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dashboardHtml } from './dashboard-page.js';
import { refuseOrLogin } from './http-auth.js';
import type { RunMetrics } from './metrics.js';
import type { RunState } from './run-state.js';
import { ErrorCodes, RingtrainError } from '../../shared/base/errors.js';
import type { Logger } from '../../shared/base/logger.js';

export interface HttpEndpoint {
  port: number;
  /** Base URL a person can open, e.g. http://127.0.0.1:7071/ */
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The live page, built once (it inlines uPlot, read from node_modules). */
let livePage: string | null = null;

async function route(req: IncomingMessage, res: ServerResponse, state: RunState, metrics: RunMetrics): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  // Only the path matters; a malformed Host header must not make URL parsing throw.
  const path = (req.url ?? '/').split('?')[0];
  switch (path) {
    case '/metrics':
      return send(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
    case '/status':
      return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(state.snapshot()));
    case '/':
    case '/index.html': {
      const page = (livePage ??= dashboardHtml());
      return send(res, 200, 'text/html; charset=utf-8', page);
    }
    case '/healthz':
      return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
    default:
      return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /, /status or /metrics\n');
  }
}

/** Starts the HTTP endpoint on host:port (0 = any free port); with `key`, requests need it (http-auth.ts). */
export async function startHttp(host: string, port: number, state: RunState, metrics: RunMetrics, log: Logger, key: string | null = null): Promise<HttpEndpoint> {
  const server: Server = createServer((req, res) => {
    if (refuseOrLogin(req, res, key)) return;
    route(req, res, state, metrics).catch((err: unknown) => {
      log.warn({ url: req.url, err: err instanceof Error ? err.message : String(err) }, 'http request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  // Idle dashboards must not hold the process open at the end of a run.
  server.keepAliveTimeout = 2_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new RingtrainError(ErrorCodes.BAD_CONFIG, `cannot serve HTTP on ${host}:${port} (${err.code ?? err.message}); pick another --http-port or pass --no-http`)),
    );
    server.listen(port, host, () => resolve());
  });
  server.on('error', (err) => log.warn({ err: err.message }, 'http server error'));
  const bound = (server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    port: bound,
    url: `http://${shown}:${bound}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
