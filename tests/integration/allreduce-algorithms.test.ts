/**
 * Every all-reduce path over real sockets on port 0: the ring, recursive doubling and recursive
 * halving-doubling (the small- and mid-message algorithms)
 * and fp16 compression on each, with ranks linked over their local (Unix socket) endpoints as
 * workers of one host are (the TCP path: collective-contract.test.ts and the fallback test below), for N = 1, 2, 3, 5, 8 and lengths 1, N-1, 1000 and
 * 1,000,003. Ranks run in this process (one RingServer + RingCollective each), which exercises
 * the same sockets and framing as separate worker processes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { RingServer } from '../../src/shared/transport/ring-server.js';
import { RingCollective, type Compression } from '../../src/shared/collective/ring-collective.js';
import { createLogger } from '../../src/shared/base/logger.js';
import type { AllreduceAlgorithm } from '../../src/shared/collective/allreduce-plan.js';
import { TEST_RING_KEY } from '../helpers/ring.js';
import { KernelArena } from '../../src/shared/kernels/kernel-arena.js';
import { localEndpoint } from '../../src/shared/transport/ring-handshake.js';
import { Defaults } from '../../src/shared/base/constants.js';

const log = createLogger('test', 'silent');
const WORLDS = [1, 2, 3, 5, 8];
const lengthsFor = (n: number): number[] => [...new Set([1, Math.max(1, n - 1), 1000, 1_000_003])];

interface Group {
  rings: RingCollective[];
  servers: RingServer[];
}
const open: Group[] = [];

async function group(n: number, algorithm: AllreduceAlgorithm | 'auto', compress: Compression = 'none', chunkBytes?: number): Promise<RingCollective[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => RingServer.listen('127.0.0.1', 0, log)));
  const urls = servers.map((s) => s.urlFor('127.0.0.1'));
  const rings = await Promise.all(
    servers.map((server, rank) =>
      RingCollective.connect({
        server, generation: 1, rank, worldSize: n, successorUrl: urls[(rank + 1) % n]!, peerUrls: urls,
        connectTimeoutMs: 10_000, opTimeoutMs: 60_000, log, algorithm, compress, ringKey: TEST_RING_KEY, ...(chunkBytes ? { chunkBytes } : {}),
      }),
    ),
  );
  open.push({ rings, servers });
  return rings;
}

afterAll(async () => {
  for (const g of open) {
    await Promise.all(g.rings.map((r) => r.close()));
    await Promise.all(g.servers.map((s) => s.close()));
  }
});

/** Integer-valued inputs: every partial sum is exact in float32 (and in fp16 while below 2048). */
function intInput(rank: number, len: number): Float32Array {
  const b = new Float32Array(len);
  for (let i = 0; i < len; i++) b[i] = ((i * 7 + rank * 13) % 23) - 11 + rank;
  return b;
}

/**
 * All-reduces copies of `inputs`; `inArena`: each copy in its own KernelArena, as a worker's fusion
 * buffer is (generation.ts), so received values are added by the SIMD kernel.
 */
async function allreduce(rings: RingCollective[], inputs: Float32Array[], inArena = false): Promise<Float32Array[]> {
  const bufs = inputs.map((b) => {
    if (!inArena) return b.slice();
    const arena = KernelArena.create([b.length])!;
    const copy = arena.alloc(b.length)!;
    copy.set(b);
    return copy;
  });
  await Promise.all(rings.map((r, i) => r.allreduceSum(bufs[i]!)));
  return bufs;
}

function expectExactSum(outs: Float32Array[], inputs: Float32Array[]): void {
  const len = inputs[0]!.length;
  const want = new Float32Array(len);
  for (const b of inputs) for (let i = 0; i < len; i++) want[i]! += b[i]!;
  for (const out of outs) {
    let bad = -1;
    for (let i = 0; i < len && bad < 0; i++) if (out[i] !== want[i]) bad = i;
    expect(bad, bad >= 0 ? `element ${bad}: got ${out[bad]}, want ${want[bad]}` : '').toBe(-1);
  }
}

function expectBitIdentical(outs: Float32Array[]): void {
  const bytes = (o: Float32Array): Buffer => Buffer.from(o.buffer, o.byteOffset, o.byteLength);
  for (const o of outs.slice(1)) expect(Buffer.compare(bytes(o), bytes(outs[0]!))).toBe(0);
}

for (const algorithm of ['ring', 'rd', 'hd'] as const) {
  describe(`${algorithm} all-reduce`, () => {
    for (const n of WORLDS) {
      it(`sums exactly for N=${n}, lengths ${lengthsFor(n).join(', ')}, twice in a row`, async () => {
        const rings = await group(n, algorithm);
        for (const len of lengthsFor(n)) {
          for (let rep = 0; rep < 2; rep++) {
            const inputs = rings.map((_, r) => intInput(r + rep, len));
            expectExactSum(await allreduce(rings, inputs), inputs);
          }
        }
      });
    }
  });
}

describe('buffers in a KernelArena (SIMD add of received values)', () => {
  for (const algorithm of ['ring', 'rd', 'hd'] as const) {
    it(`${algorithm}: sums exactly for N=2, 3, 5 and agrees bit for bit with plain buffers on real values`, async () => {
      for (const n of [2, 3, 5]) {
        const rings = await group(n, algorithm);
        for (const len of [1000, 1_000_003]) {
          const ints = rings.map((_, r) => intInput(r, len));
          expectExactSum(await allreduce(rings, ints, true), ints);
          const reals = rings.map((_, r) => Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.37 + r) * 10 ** ((i % 9) - 4)));
          const plain = await allreduce(rings, reals);
          const arena = await allreduce(rings, reals, true);
          expectBitIdentical([...plain, ...arena]);
        }
      }
    });
  }
});

describe('ring links reading into the fusion buffer\'s arena (as workers do)', () => {
  // Default chunks (one per segment here), 64 KiB chunks (many per segment, read straight into
  // place), and 4 KiB chunks (short WebSocket headers: each header read takes a few payload bytes).
  it('sums exactly and agrees bit for bit with plain buffers, for N=2, 3, 5, three chunk sizes and lengths off the chunk grid', async () => {
    for (const [n, chunkBytes] of [[2, undefined], [3, undefined], [5, undefined], [2, 65_536], [3, 4096], [5, 65_536]] as const) {
      const lengths = [1000, 65_537, 1_000_003];
      const servers = await Promise.all(Array.from({ length: n }, () => RingServer.listen('127.0.0.1', 0, log)));
      const urls = servers.map((s) => s.urlFor('127.0.0.1'));
      // Each rank's buffers and its predecessor link's read buffer share one arena.
      const arenas = servers.map(() => KernelArena.create([...lengths, ...lengths, Defaults.ringReadBufferBytes / 4])!);
      const rings = await Promise.all(
        servers.map((server, rank) =>
          RingCollective.connect({
            server, generation: 1, rank, worldSize: n, successorUrl: urls[(rank + 1) % n]!, peerUrls: urls,
            connectTimeoutMs: 10_000, opTimeoutMs: 60_000, log, algorithm: 'ring', ringKey: TEST_RING_KEY, arena: arenas[rank]!, ...(chunkBytes ? { chunkBytes } : {}),
          }),
        ),
      );
      open.push({ rings, servers });
      for (const r of rings) expect([r.predReads, r.successorLocal]).toEqual([{ fixed: true, inArena: true }, true]);
      for (const len of lengths) {
        const inArena = (inputs: Float32Array[]): Float32Array[] => inputs.map((b, r) => {
          const copy = arenas[r]!.alloc(len)!;
          copy.set(b);
          return copy;
        });
        const ints = inArena(rings.map((_, r) => intInput(r, len)));
        await Promise.all(rings.map((r, i) => r.allreduceSum(ints[i]!)));
        expectExactSum(ints, rings.map((_, r) => intInput(r, len)));
        const realsOf = (): Float32Array[] => rings.map((_, r) => Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.37 + r) * 10 ** ((i % 9) - 4)));
        const plain = await allreduce(rings, realsOf());
        const reals = inArena(realsOf());
        await Promise.all(rings.map((r, i) => r.allreduceSum(reals[i]!)));
        expectBitIdentical([...plain, ...reals]);
      }
    }
  });
});

describe('local endpoints', () => {
  it('falls back to TCP when a peer\'s local endpoint cannot be reached, and sums the same', async () => {
    const n = 3;
    const servers = await Promise.all(Array.from({ length: n }, () => RingServer.listen('127.0.0.1', 0, log)));
    // Rank 1's URL names a local endpoint nobody listens on (as from another network namespace).
    const urls = servers.map((s, r) => (r === 1 ? `ws://127.0.0.1:${s.port}/?local=ringtrain-nobody-listens-here` : s.urlFor('127.0.0.1')));
    const rings = await Promise.all(
      servers.map((server, rank) =>
        RingCollective.connect({
          server, generation: 1, rank, worldSize: n, successorUrl: urls[(rank + 1) % n]!, peerUrls: urls,
          connectTimeoutMs: 10_000, opTimeoutMs: 60_000, log, algorithm: 'ring', ringKey: TEST_RING_KEY,
        }),
      ),
    );
    open.push({ rings, servers });
    expect(servers.every((s) => s.localName !== null)).toBe(true);
    expect(rings.map((r) => r.successorLocal)).toEqual([false, true, true]);
    for (const len of [1000, 1_000_003]) {
      const inputs = rings.map((_, r) => intInput(r, len));
      expectExactSum(await allreduce(rings, inputs), inputs);
    }
  });

  it('are not offered over TLS, nor when switched off, and a URL\'s local name must be well formed', async () => {
    const off = await RingServer.listen('127.0.0.1', 0, log, { tls: null, token: null, insecure: false, local: false });
    expect(off.localName).toBeNull();
    expect(off.urlFor('127.0.0.1')).toBe(`ws://127.0.0.1:${off.port}`);
    await off.close();
    expect(localEndpoint('ws://h:1/?local=ringtrain-abc')).toBe('ringtrain-abc');
    expect(localEndpoint('wss://h:1/?local=ringtrain-abc')).toBeNull();
    expect(localEndpoint('ws://h:1/?local=../../x%00y')).toBeNull();
    expect(localEndpoint('ws://h:1/')).toBeNull();
    expect(localEndpoint('not a url')).toBeNull();
  });
});

describe('fp16 compression', () => {
  for (const algorithm of ['ring', 'rd', 'hd'] as const) {
    for (const n of WORLDS) {
      it(`${algorithm}, N=${n}: small integers (exact in fp16) sum exactly`, async () => {
        const rings = await group(n, algorithm, 'fp16');
        for (const len of lengthsFor(n).filter((l) => l <= 1000 || algorithm !== 'rd')) {
          const inputs = rings.map((_, r) => intInput(r, len));
          expectExactSum(await allreduce(rings, inputs), inputs);
        }
      });
    }
  }

  it.each([['ring'], ['rd'], ['hd']] as const)('%s, N=5: real values within the stated tolerance, bit-identical on every rank', async (algorithm) => {
    const n = 5;
    const len = 10_007;
    const rings = await group(n, algorithm, 'fp16', 4096);
    const inputs = rings.map((_, r) => Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.37 + r) * (1 + (i % 5))));
    const outs = await allreduce(rings, inputs);
    expectBitIdentical(outs);
    // Tolerance: each of the at most N+1 roundings to fp16 (inputs, partial sums, final value) is
    // off by at most 2^-11 of a magnitude bounded by the sum of absolute values.
    for (let i = 0; i < len; i++) {
      let exact = 0;
      let abs = 0;
      for (const b of inputs) {
        exact += b[i]!;
        abs += Math.abs(b[i]!);
      }
      expect(Math.abs(outs[0]![i]! - exact)).toBeLessThanOrEqual((n + 1) * 2 ** -11 * abs + 1e-7);
    }
  });
});

describe('exact calls under compression', () => {
  it.each([['ring'], ['rd'], ['hd']] as const)('%s: an exact call sums values fp16 cannot hold, then compression resumes', async (algorithm) => {
    const rings = await group(3, algorithm, 'fp16');
    const big = rings.map((_, r) => Float32Array.of(4097 + r, 123456789 + r, 0.1 * r));
    const outs = big.map((b) => b.slice());
    await Promise.all(rings.map((ring, i) => ring.allreduceSum(outs[i]!, { exact: true })));
    expectExactSum(outs, big);
    const small = rings.map((_, r) => intInput(r, 1000));
    expectExactSum(await allreduce(rings, small), small);
  });
});

describe('choice by size', () => {
  it('auto gives every rank bit-identical results, equal to the ring within float rounding', async () => {
    const n = 5;
    const ring = await group(n, 'ring');
    const auto = await group(n, 'auto');
    for (const len of [1000, 1_000_003]) {
      const inputs = ring.map((_, r) => Float32Array.from({ length: len }, (_, i) => Math.cos(i * 0.11 + r * 1.3) * 1e-3));
      const a = await allreduce(ring, inputs);
      const b = await allreduce(auto, inputs);
      expectBitIdentical(a);
      expectBitIdentical(b);
      for (let i = 0; i < len; i += 97) expect(Math.abs(a[0]![i]! - b[0]![i]!)).toBeLessThanOrEqual(1e-9);
    }
  });
});
