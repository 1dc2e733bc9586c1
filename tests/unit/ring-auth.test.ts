/**
 * Ring links over real loopback sockets: a stranger without this generation's ring key is
 * refused with RT_AUTH_FAILED and its frames never reach a reduction; frames of another
 * generation or step on a genuine link are dropped and logged, and the sum stays exact.
 * Rank 1 is played by the test, so it can send whatever frames it likes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { RingServer } from '../../src/shared/transport/ring-server.js';
import { RingCollective } from '../../src/shared/collective/ring-collective.js';
import { FatalDialError, dialOnce } from '../../src/shared/transport/ring-handshake.js';
import { AUTH_BYTES, newNonce, ringHelloProof } from '../../src/shared/protocol/auth.js';
import { Dtype, FrameKind, LinkKind, type FrameHeader } from '../../src/shared/protocol/codec.js';
import { PeerLink, type RingLink } from '../../src/shared/transport/peer-link.js';
import { TEST_RING_KEY, silent } from '../helpers/ring.js';
import { connectPeer, ringChallengeOf, ringFrame } from '../helpers/peer.js';

const lines: string[] = [];
const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
const f32 = (...v: number[]): Buffer => Buffer.from(Float32Array.of(...v).buffer);
interface Got {
  header: FrameHeader;
  payload: Buffer;
}
/** The test's end of a link: records every data frame it receives, sends whatever it is told. */
function testLink(link: RingLink, got: Got[] = []): PeerLink {
  return new PeerLink(link, 'test link', { route: () => 'collect', end: (header, _r, payload) => void got.push({ header, payload: payload! }) }, () => undefined);
}
/** Sends a data frame on `l` with any header fields the test likes. */
function data(l: PeerLink, generation: number, seq: number, hop: number, offset: number, values: number[]): void {
  l.send({ kind: FrameKind.Data, dtype: Dtype.F32, generation, seq, hop, offset, count: values.length }, f32(...values), () => undefined);
}

describe('ring link authentication', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c();
  });

  it('refuses strangers, drops frames of another generation or step, and keeps the sum exact', async () => {
    const s0 = await RingServer.listen('127.0.0.1', 0, log);
    const s1 = await RingServer.listen('127.0.0.1', 0, silent);
    closers.push(() => s0.close(), () => s1.close());
    const url0 = `ws://127.0.0.1:${s0.port}`;
    // Rank 0 is real; it expects rank 1 (the test) as its predecessor for generation 1.
    const fromRank0P = s1.awaitPredecessor(1, 0, TEST_RING_KEY, 10_000);
    const rank0P = RingCollective.connect({
      server: s0, generation: 1, rank: 0, worldSize: 2, successorUrl: `ws://127.0.0.1:${s1.port}`, connectTimeoutMs: 10_000, opTimeoutMs: 10_000,
      log, ringKey: TEST_RING_KEY,
    });

    // A stranger who knows the generation and rank but not the key.
    const stranger = connectPeer(url0, { raw: true });
    const nonce = await ringChallengeOf(stranger);
    await stranger.send(ringFrame({ kind: FrameKind.Data, dtype: Dtype.F32, generation: 1, seq: 1, hop: 0, offset: 2, count: 2 }, f32(1e6, 1e6))); // data before hello: dropped
    await stranger.send(ringFrame({ kind: FrameKind.Hello, generation: 1, seq: 1, count: 2 * AUTH_BYTES }, Buffer.concat([ringHelloProof(Buffer.alloc(32, 1), nonce, 1, 1), newNonce()])));
    expect(await stranger.closed).toEqual({ code: 1008, reason: 'RT_AUTH_FAILED' });
    // A replayed hello (right key, someone else's nonce) fails the same way.
    const replayer = connectPeer(url0, { raw: true });
    await ringChallengeOf(replayer);
    await replayer.send(ringFrame({ kind: FrameKind.Hello, generation: 1, seq: 1, count: 2 * AUTH_BYTES }, Buffer.concat([ringHelloProof(TEST_RING_KEY, nonce, 1, 1), newNonce()])));
    expect(await replayer.closed).toEqual({ code: 1008, reason: 'RT_AUTH_FAILED' });
    // The library's own dialler with a wrong key stops at once with RT_AUTH_FAILED.
    const wrong = await dialOnce({ url: url0, generation: 1, rank: 1, ringKey: Buffer.alloc(32, 9), tls: null, timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(FatalDialError);
    expect((wrong as FatalDialError).error.code).toBe('RT_AUTH_FAILED');

    // The genuine rank 1.
    const toRank0 = testLink(await dialOnce({ url: url0, generation: 1, rank: 1, ringKey: TEST_RING_KEY, tls: null, timeoutMs: 5_000 }));
    const rank0 = await rank0P;
    const got: Got[] = [];
    const fromRank0 = testLink(await fromRank0P, got);
    closers.push(async () => {
      await rank0.close();
      toRank0.close(true);
      fromRank0.close(true);
    });

    const buf = Float32Array.of(1, 2, 3, 4);
    const done = rank0.allreduceSum(buf);
    // Wrong generation, then a step far from the current one: both dropped and logged.
    data(toRank0, 2, 1, 0, 2, [1000, 1000]);
    data(toRank0, 1, 9, 0, 2, [1000, 1000]);
    // Rank 1's own segment (1) on hop 0; rank 0 adds and forwards it on hop 1.
    data(toRank0, 1, 1, 0, 2, [30, 40]);
    const deadline = Date.now() + 5_000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    // Rank 0's own segment (0) went out on hop 0 as one data frame (headers, then a view of its buffer).
    const own = got.find((f) => f.header.kind === FrameKind.Data && f.header.hop === 0)!.payload;
    const v = new Float32Array(own.buffer.slice(own.byteOffset, own.byteOffset + own.length));
    data(toRank0, 1, 1, 1, 0, [v[0]! + 10, v[1]! + 20]);
    await done;
    expect(Array.from(buf)).toEqual([11, 22, 33, 44]);
    expect(rank0.error).toBeNull();
    const logged = lines.join('');
    expect(logged).toContain('ring frame for another generation or of unexpected kind dropped');
    expect(logged).toContain('stale ring frame dropped');
    expect(logged).toContain('bad frame before ring hello dropped');
    expect(logged).toMatch(/"code":"RT_AUTH_FAILED".*refused ring connection/);
  });

  it('a mesh link proves the ring key for its own link kind, exactly like a ring link', async () => {
    const s = await RingServer.listen('127.0.0.1', 0, silent);
    closers.push(() => s.close());
    const url = `ws://127.0.0.1:${s.port}`;
    // This rank (1) expects rank 0 on a mesh link of generation 1, and nothing else.
    const [meshP] = s.awaitLinks(1, TEST_RING_KEY, 10_000, [{ rank: 0, link: LinkKind.Mesh }]);
    // A ring-link hello (right key, this nonce) replayed with the mesh link kind: the proof does not cover it.
    const relabel = connectPeer(url, { raw: true });
    const nonce = await ringChallengeOf(relabel);
    await relabel.send(ringFrame({ kind: FrameKind.Hello, hop: LinkKind.Mesh, generation: 1, seq: 0, count: 2 * AUTH_BYTES }, Buffer.concat([ringHelloProof(TEST_RING_KEY, nonce, 1, 0), newNonce()])));
    expect(await relabel.closed).toEqual({ code: 1008, reason: 'RT_AUTH_FAILED' });
    // The wrong key on a mesh link, and a ring link nobody asked for: refused for good.
    for (const attempt of [{ ringKey: Buffer.alloc(32, 9), link: LinkKind.Mesh }, { ringKey: TEST_RING_KEY, link: LinkKind.Ring }]) {
      const err = await dialOnce({ url, generation: 1, rank: 0, tls: null, timeoutMs: 5_000, ...attempt }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FatalDialError);
      expect((err as FatalDialError).error.code).toBe('RT_AUTH_FAILED');
    }
    // The genuine partner gets through, and data flows both ways on the link.
    const fromAccepted: Got[] = [];
    const fromDialled: Got[] = [];
    const dialled = testLink(await dialOnce({ url, generation: 1, rank: 0, ringKey: TEST_RING_KEY, tls: null, timeoutMs: 5_000, link: LinkKind.Mesh }), fromAccepted);
    const accepted = testLink(await meshP!, fromDialled);
    closers.push(async () => {
      dialled.close(true);
      accepted.close(true);
    });
    // The listening side holds its frame until the dialler's ready frame has arrived.
    data(accepted, 1, 1, 1, 0, [7, 8]);
    data(dialled, 1, 1, 1, 4, [9]);
    const deadline = Date.now() + 5_000;
    while ((fromAccepted.length < 1 || fromDialled.length < 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(Array.from(new Float32Array(fromAccepted[0]!.payload.buffer.slice(fromAccepted[0]!.payload.byteOffset, fromAccepted[0]!.payload.byteOffset + 8)))).toEqual([7, 8]);
    expect(fromDialled[0]!.header).toMatchObject({ generation: 1, seq: 1, hop: 1, offset: 4, count: 1 });
  });
});
