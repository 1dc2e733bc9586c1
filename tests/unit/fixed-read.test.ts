/**
 * Contract test for fixed-read.ts against the running Node, over real sockets on port 0: a
 * connection moved onto a socket that reads into buffers of its owner's choosing keeps every byte
 * in order (those the old socket had buffered first), reads exactly where and as much as it was
 * told, stops writing into a chosen view once detached, still sees its peer's end, and leaves the
 * server free to close. A Node that stops allowing the move fails here; in a run the ring would
 * keep its ordinary sockets (the same bytes, slower: peer-link-reads.test.ts covers both paths).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, connect, Socket, type Server } from 'node:net';
import { TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { readIntoOwnBuffers, type ReadTargets } from '../../src/shared/transport/fixed-read.js';

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

/** Targets that always read into `buffer`, collecting copies of what was read. */
function intoBuffer(buffer: Buffer, got: Buffer[]): ReadTargets {
  return { next: () => buffer, read: (into, n) => got.push(Buffer.from(into.subarray(0, n))) };
}

/** Resolves once `cond` holds, polling; rejects after `ms`. */
async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('readIntoOwnBuffers', () => {
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
    const moved = readIntoOwnBuffers(accepted, Buffer.alloc(16), {
      next: () => buffer,
      read: (into, n) => {
        if (into !== buffer) outside++;
        got.push(Buffer.from(into.subarray(0, n)));
      },
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

  it('reads exactly into the views it is given, capped by their length, and never into one after detach', async () => {
    const { accepted, client } = await pair();
    // Alternate: 10 bytes into a fixed buffer's head, then the next 1000 straight into `dest`.
    const fixed = Buffer.alloc(4096);
    const dest = new Uint8Array(3000);
    let destAt = 0;
    let headBytes = 0;
    let phase: 'head' | 'dest' = 'head';
    let headLeft = 10;
    let destLeft = 0;
    const moved = readIntoOwnBuffers(accepted, Buffer.alloc(64), {
      next: () => (phase === 'head' ? fixed.subarray(0, headLeft) : dest.subarray(destAt, destAt + destLeft)),
      read: (into, n) => {
        expect(n).toBeLessThanOrEqual(into.length);
        if (phase === 'head') {
          expect(into.buffer).toBe(fixed.buffer);
          headBytes += n;
          if ((headLeft -= n) === 0) [phase, destLeft] = ['dest', 1000];
        } else {
          expect(into.buffer).toBe(dest.buffer);
          destAt += n;
          if ((destLeft -= n) === 0) [phase, headLeft] = ['head', 10];
        }
      },
    });
    expect(moved).not.toBeNull();
    cleanup.push(() => moved!.socket.destroy());
    const block = (k: number): Buffer => Buffer.concat([Buffer.alloc(10, 0xee), pattern(1000, k)]);
    client.write(Buffer.concat([block(1), block(2)]));
    await until(() => destAt === 2000);
    expect(headBytes).toBe(20);
    expect(Buffer.from(dest.subarray(0, 2000)).equals(Buffer.concat([pattern(1000, 1), pattern(1000, 2)]))).toBe(true);
    // A third head: the read after it is set up into dest[2000..3000), and must not land there
    // once detached.
    client.write(Buffer.alloc(10, 0xee));
    await until(() => headBytes === 30);
    expect(phase).toBe('dest');
    moved!.detach();
    client.write(Buffer.alloc(1000, 0x77));
    await new Promise((r) => setTimeout(r, 100));
    expect(destAt).toBe(2000);
    expect(dest.subarray(2000).every((b) => b === 0)).toBe(true);
  });

  it('leaves the server free to close while the moved connection lives on', async () => {
    const { server, accepted, client } = await pair();
    const got: Buffer[] = [];
    const moved = readIntoOwnBuffers(accepted, Buffer.alloc(16), intoBuffer(Buffer.alloc(4096), got));
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
    expect(readIntoOwnBuffers(accepted, Buffer.alloc(16), intoBuffer(Buffer.alloc(16), []))).toBeNull();
    // TLS: the handle carries ciphertext, so reads must go through the TLS socket.
    const tls = new TLSSocket(new Socket());
    cleanup.push(() => tls.destroy());
    expect(readIntoOwnBuffers(tls, Buffer.alloc(16), intoBuffer(Buffer.alloc(16), []))).toBeNull();
    // Writes still in flight would complete on the wrong socket.
    const b = await pair();
    b.accepted.cork();
    b.accepted.write('x');
    expect(readIntoOwnBuffers(b.accepted, Buffer.alloc(16), intoBuffer(Buffer.alloc(16), []))).toBeNull();
    expect(b.accepted.destroyed).toBe(false);
  });
});
