/**
 * A stranger flooding ports with silent WebSocket connections: it keeps `perSource` sockets open
 * from each source address to each URL (127.0.0.1 shares its address with the honest peers;
 * 127.0.0.2 is another loopback address), renews one every `renewMs`, and never says a word.
 */
import { WebSocket } from 'ws';

export interface Flood {
  /** Connections opened, and how many the server refused (HTTP 503) or closed. */
  opened: number;
  refused: number;
  closedByServer: number;
  stop(): void;
}

export function flood(urls: () => string[], opts: { sources?: string[]; perSource?: number; renewMs?: number } = {}): Flood {
  const sources = opts.sources ?? ['127.0.0.1', '127.0.0.2'];
  const perSource = opts.perSource ?? 32;
  const pools = new Map<string, WebSocket[]>();
  let stopped = false;
  const f: Flood = { opened: 0, refused: 0, closedByServer: 0, stop: () => undefined };
  const open = (url: string, source: string, pool: WebSocket[]): void => {
    const ws = new WebSocket(url, { localAddress: source, perMessageDeflate: false });
    f.opened++;
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (req) => {
      f.refused++;
      req.destroy();
    });
    ws.on('close', () => {
      const i = pool.indexOf(ws);
      if (i >= 0) pool.splice(i, 1);
      if (!stopped && ws.readyState === WebSocket.CLOSED) f.closedByServer++;
    });
    pool.push(ws);
  };
  const top = (renew: boolean): void => {
    for (const url of urls()) {
      for (const source of sources) {
        const key = `${url} ${source}`;
        const pool = pools.get(key) ?? [];
        pools.set(key, pool);
        if (renew) pool.shift()?.terminate();
        while (pool.length < perSource) open(url, source, pool);
      }
    }
  };
  top(false);
  const timer = setInterval(() => top(true), opts.renewMs ?? 150);
  f.stop = () => {
    stopped = true;
    clearInterval(timer);
    for (const pool of pools.values()) for (const w of pool.splice(0)) w.terminate();
  };
  return f;
}
