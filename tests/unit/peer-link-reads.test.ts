/**
 * A PeerLink after a real ring handshake (RingServer + dialOnce, loopback TCP and the listener's
 * Unix socket) delivers the same bytes whichever way its socket reads: moved onto a socket that
 * reads into the caller's buffer and places payloads straight where they belong (fixed-read.ts),
 * or the link's ordinary socket, the public-API path taken wherever the move is not possible
 * (TLS, a Node without the handle). Both must give identical bytes, frame after frame.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RingServer } from '../../src/shared/transport/ring-server.js';
import { dialOnce, localEndpoint } from '../../src/shared/transport/ring-handshake.js';
import { PeerLink } from '../../src/shared/transport/peer-link.js';
import { Dtype, FrameKind, LinkKind } from '../../src/shared/protocol/codec.js';
import type { Route } from '../../src/shared/transport/ring-stream.js';
import { TEST_RING_KEY, silent } from '../helpers/ring.js';

const closers: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** Frame sizes (float32 values) around the 64-byte read buffer used here, and well past it. */
const COUNTS = [1, 3, 16, 17, 1000, 65_536 + 5, 2];
const total = COUNTS.reduce((s, n) => s + n, 0);

async function transfer(transport: 'tcp' | 'local', fixed: boolean): Promise<{ fixedReads: boolean; copied: Buffer; collected: Buffer }> {
  const server = await RingServer.listen('127.0.0.1', 0, silent, { tls: null, token: null, insecure: false, local: transport === 'local' });
  closers.push(() => server.close());
  const url = server.urlFor('127.0.0.1');
  const accepted = server.awaitPredecessor(1, 0, TEST_RING_KEY, 10_000);
  const dialled = await dialOnce({ url, generation: 1, rank: 0, ringKey: TEST_RING_KEY, tls: null, timeoutMs: 10_000, link: LinkKind.Ring, local: transport === 'local' ? localEndpoint(url) : null });
  const errors: Error[] = [];
  const sender = new PeerLink(dialled, 'test sender', { route: () => 'discard', end: () => undefined }, (e) => void errors.push(e));
  closers.push(() => sender.close(true));
  // Even frames are stored in place (an all-gather copy), odd ones collected into buffers of their own.
  const copied = Buffer.alloc(total * 4);
  const collected: Buffer[] = [];
  let frames = 0;
  const route = (h: { offset: number; seq: number }): Route => {
    if (h.seq % 2 === 1) return 'collect';
    const base = h.offset * 4;
    return { piece: (b, at) => copied.set(b, base + at * 4), bytesAt: (from, length) => copied.subarray(base + from, base + from + length) };
  };
  const receiver = new PeerLink(await accepted, 'test receiver', {
    route,
    end: (h, _r, payload) => {
      frames++;
      if (payload) collected.push(Buffer.from(payload));
    },
  }, (e) => void errors.push(e), undefined, fixed ? Buffer.alloc(64) : null, fixed);
  closers.push(() => receiver.close(true));
  const sent = new Float32Array(total).map((_, i) => Math.sin(i) * 1000);
  let at = 0;
  for (const [seq, count] of COUNTS.entries()) {
    sender.send({ kind: FrameKind.Data, dtype: Dtype.F32, hop: 0, generation: 1, seq, offset: at, count }, new Uint8Array(sent.buffer, at * 4, count * 4), () => undefined);
    at += count;
  }
  const end = Date.now() + 10_000;
  while (frames < COUNTS.length && errors.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  expect(errors).toEqual([]);
  expect(frames).toBe(COUNTS.length);
  // What a correct link must hold: the even frames in place, the odd ones collected in order.
  const want = Buffer.alloc(total * 4);
  const wantCollected: Buffer[] = [];
  at = 0;
  for (const [seq, count] of COUNTS.entries()) {
    const part = Buffer.from(sent.buffer, at * 4, count * 4);
    if (seq % 2 === 0) want.set(part, at * 4);
    else wantCollected.push(part);
    at += count;
  }
  expect(copied.equals(want)).toBe(true);
  expect(Buffer.concat(collected).equals(Buffer.concat(wantCollected))).toBe(true);
  return { fixedReads: receiver.fixedReads, copied, collected: Buffer.concat(collected) };
}

describe('PeerLink reads', () => {
  it.each([['tcp'], ['local']] as const)('over %s give the same bytes into a fixed buffer as through the ordinary socket', async (transport) => {
    const moved = await transfer(transport, true);
    const ordinary = await transfer(transport, false);
    expect([moved.fixedReads, ordinary.fixedReads]).toEqual([true, false]);
    expect(moved.copied.equals(ordinary.copied)).toBe(true);
    expect(moved.collected.equals(ordinary.collected)).toBe(true);
  });
});
