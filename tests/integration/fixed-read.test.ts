/**
 * worker/fixed-read.ts over real sockets on port 0: a connection moved onto a socket that reads
 * into one fixed buffer keeps every byte in order (those the old socket had buffered first), reads
 * into that buffer, still sees its peer's end, and leaves the server free to close. It fails if
 * this Node stops allowing the move (the ring would then silently fall back to ordinary reads).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, connect, Socket, type Server } from 'node:net';
import { TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { readIntoFixedBuffer } from '../../src/worker/fixed-read.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

/** A server on port 0 and a client connected to it; resolves with both ends, the server's paused. */
async function pair(): Promise<{ server: Server; accepted: Socket; client: Socket }> {
  const server = createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const acceptedP = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [accepted] = await acceptedP;
  cleanup.push(() => {
    client.destroy();
    accepted.destroy();
    server.close();
  });
  return { server, accepted, client };
}

const pattern = (n: number, seed: number): Buffer => Buffer.from(Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

/** Resolves once `cond` holds, polling; rejects after `ms`. */
async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('readIntoFixedBuffer', () => {
  it('delivers the bytes buffered before the move, then every later byte in order, read into the given buffer', async () => {
    const { accepted, client } = await pair();
    // Some bytes reach the old socket's own buffer before the move (read, not yet consumed).
    const early = pattern(1000, 1);
    client.write(early);
    accepted.read(0);
    await until(() => accepted.readableLength === early.length);

    const buffer = Buffer.alloc(64 * 1024);
    const got: Buffer[] = [];
    let outside = 0;
    const moved = readIntoFixedBuffer(accepted, buffer, (bytes) => {
      if (bytes.buffer !== buffer.buffer || bytes.byteOffset !== buffer.byteOffset) outside++;
      got.push(Buffer.from(bytes));
    });
    expect(moved).not.toBeNull();
    cleanup.push(() => moved!.socket.destroy());
    expect(Buffer.concat(moved!.pending).equals(early)).toBe(true);
    expect(accepted.destroyed).toBe(true);

    const late = pattern(3 * 1024 * 1024 + 7, 2);
    client.write(late);
    await until(() => got.reduce((s, b) => s + b.length, 0) >= late.length);
    expect(Buffer.concat(got).equals(late)).toBe(true);
    expect(outside).toBe(0);
    // At most the buffer's size per read: more reads than 3 MiB / 64 KiB would not fit.
    expect(got.length).toBeGreaterThanOrEqual(Math.ceil(late.length / buffer.length));

    // Writing works on the new socket, and the peer's end still arrives.
    const back = once(client, 'data');
    moved!.socket.write('ok');
    expect(String((await back)[0])).toBe('ok');
    const ended = once(moved!.socket, 'end');
    client.end();
    await ended;
  });

  it('leaves the server free to close while the moved connection lives on', async () => {
    const { server, accepted, client } = await pair();
    const got: Buffer[] = [];
    const moved = readIntoFixedBuffer(accepted, Buffer.alloc(4096), (b) => got.push(Buffer.from(b)));
    expect(moved).not.toBeNull();
    cleanup.push(() => moved!.socket.destroy());
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server.close() waited for a connection it no longer owns')), 5_000);
      server.close(() => {
        clearTimeout(t);
        resolve();
      });
    });
    client.write('still here');
    await until(() => Buffer.concat(got).toString() === 'still here');
  });

  it('refuses sockets it cannot move, leaving them untouched', async () => {
    const { accepted, client } = await pair();
    // A socket whose peer already ended: the new socket would never learn of that end.
    client.end();
    accepted.resume();
    await once(accepted, 'end');
    expect(readIntoFixedBuffer(accepted, Buffer.alloc(16), () => undefined)).toBeNull();
    // TLS: the handle carries ciphertext, so reads must go through the TLS socket.
    const tls = new TLSSocket(new Socket());
    cleanup.push(() => tls.destroy());
    expect(readIntoFixedBuffer(tls, Buffer.alloc(16), () => undefined)).toBeNull();
    // Writes still in flight would complete on the wrong socket.
    const b = await pair();
    b.accepted.cork();
    b.accepted.write('x');
    expect(readIntoFixedBuffer(b.accepted, Buffer.alloc(16), () => undefined)).toBeNull();
    expect(b.accepted.destroyed).toBe(false);
  });
});
