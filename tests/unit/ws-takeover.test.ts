/**
 * Contract test for ws-takeover.ts against the installed `ws`, over a real WebSocket on port 0:
 * `ws` reads its socket through one `data` listener only; once that listener is taken off at a
 * message boundary, `ws` sees none of the bytes that follow (a frame over its maxPayload and bytes
 * that are no WebSocket at all included), the taken socket delivers every one of them in order,
 * and `ws` still notices the socket's close. A `ws` upgrade that changes any of this fails here.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer, type AddressInfo } from 'ws';
import { takeSocket, wsReadsAsAssumed } from '../../src/shared/transport/ws-takeover.js';
import { wsWrap } from '../../src/shared/transport/ring-frames.js';
import { codeOf } from '../helpers/codes.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

/** A server and a client whose first message each way is exchanged; both sockets taken inside it. */
async function takenPair(): Promise<{ server: { ws: WebSocket; socket: Socket; seen: string[] }; client: { ws: WebSocket; socket: Socket; seen: string[] } }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024, perMessageDeflate: false });
  await once(wss, 'listening');
  cleanup.push(() => wss.close());
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  /** What `ws` reports after the takeover: anything but the close is a broken contract. */
  const watch = (ws: WebSocket, seen: string[]): void => {
    ws.on('message', (d: Buffer) => seen.push(`message ${d.length}`));
    ws.on('close', (code: number) => seen.push(`close ${code}`));
    ws.on('error', (e: Error) => seen.push(`error ${e.message}`));
  };
  const serverSide = new Promise<{ ws: WebSocket; socket: Socket; seen: string[] }>((resolve) => {
    wss.once('connection', (ws, req) => {
      const socket = req.socket as Socket;
      ws.once('message', () => {
        expect(wsReadsAsAssumed(socket)).toBe(true);
        const taken = takeSocket(ws, socket);
        const seen: string[] = [];
        watch(ws, seen);
        // The reply goes out on the taken socket, framed by hand as PeerLink does.
        taken.write(wsWrap(Buffer.from('accept'), false));
        resolve({ ws, socket: taken, seen });
      });
    });
  });
  const client = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 });
  let clientSocket: Socket | null = null;
  client.once('upgrade', (res) => (clientSocket = res.socket as Socket));
  await once(client, 'open');
  const clientSide = new Promise<{ ws: WebSocket; socket: Socket; seen: string[] }>((resolve) => {
    client.once('message', () => {
      expect(wsReadsAsAssumed(clientSocket!)).toBe(true);
      const taken = takeSocket(client, clientSocket!);
      const seen: string[] = [];
      watch(client, seen);
      resolve({ ws: client, socket: taken, seen });
    });
  });
  client.send('hello');
  const pair = { server: await serverSide, client: await clientSide };
  cleanup.push(() => {
    pair.client.socket.destroy();
    pair.server.socket.destroy();
  });
  return pair;
}

/** Collects what a taken (paused) socket delivers once resumed. */
function collect(socket: Socket): Buffer[] {
  const got: Buffer[] = [];
  socket.on('data', (b: Buffer) => got.push(b));
  socket.resume();
  return got;
}

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ws socket takeover (ws-takeover.ts)', () => {
  it('leaves every later byte to the taken socket: ws parses none, not even a frame over its maxPayload', async () => {
    const { server, client } = await takenPair();
    // The server's reply, written on its taken socket before the client took its own, reached
    // `ws` on the client as its last message; from here on neither side's `ws` may see a byte.
    expect(server.socket.isPaused()).toBe(true);
    const big = wsWrap(Buffer.alloc(64 * 1024, 0x5a), true);
    const junk = Buffer.from('no websocket framing at all \x00\xff\x88');
    client.socket.write(big);
    client.socket.write(junk);
    // Paused: nothing is lost while no one reads.
    await new Promise((r) => setTimeout(r, 50));
    const got = collect(server.socket);
    await until(() => Buffer.concat(got).length === big.length + junk.length);
    expect(Buffer.concat(got).equals(Buffer.concat([big, junk]))).toBe(true);
    const back = Buffer.from('reply bytes');
    const gotBack = collect(client.socket);
    server.socket.write(back);
    await until(() => Buffer.concat(gotBack).length === back.length);
    expect(Buffer.concat(gotBack).equals(back)).toBe(true);
    expect(server.seen).toEqual([]);
    expect(client.seen).toEqual([]);
  });

  it('keeps ws told of the close: both WebSockets close once the taken sockets end', async () => {
    const { server, client } = await takenPair();
    collect(server.socket);
    collect(client.socket);
    client.socket.end();
    server.socket.on('end', () => server.socket.end());
    await until(() => server.ws.readyState === WebSocket.CLOSED && client.ws.readyState === WebSocket.CLOSED);
    // ws reports the abnormal close (no close frame) and nothing else.
    expect(server.seen).toEqual(['close 1006']);
    expect(client.seen).toEqual(['close 1006']);
  });

  it('refuses a socket whose listeners are not the one data listener it takes over, leaving them', async () => {
    const { server } = await takenPair();
    // After a takeover the socket has no `data` listener from `ws`: a second take must refuse.
    const stray = (): void => undefined;
    server.socket.on('readable', stray);
    expect(wsReadsAsAssumed(server.socket)).toBe(false);
    expect(codeOf(() => takeSocket(server.ws, server.socket))).toBe('RT_RING_FAILED');
    expect(server.socket.listenerCount('readable')).toBe(1);
  });
});
