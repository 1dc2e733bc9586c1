/**
 * Contract every Collective must pass (the torch StoreTestBase idea): exact element-wise sums for
 * any world size and any buffer length, and bit-identical results on every rank. Values are small
 * integers so the float sum is exact whatever the reduction order.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Collective } from '../../src/shared/collective/collective.js';
import { createLocalGroup } from '../helpers/local-collective.js';
import { createRing, type TestRing } from '../helpers/ring.js';
import { RingPeerError } from '../../src/shared/collective/ring-collective.js';

function input(rank: number, length: number): Float32Array {
  const b = new Float32Array(length);
  for (let i = 0; i < length; i++) b[i] = ((i * 7 + rank * 13) % 23) - 11;
  return b;
}

async function checkSum(ranks: Collective[], length: number): Promise<void> {
  const n = ranks.length;
  const bufs = ranks.map((_, r) => input(r, length));
  await Promise.all(ranks.map((c, r) => c.allreduceSum(bufs[r]!)));
  const expected = new Float32Array(length);
  for (let r = 0; r < n; r++) {
    const b = input(r, length);
    for (let i = 0; i < length; i++) expected[i]! += b[i]!;
  }
  for (let r = 0; r < n; r++) {
    const got = bufs[r]!;
    let bad = -1;
    for (let i = 0; i < length; i++) if (got[i] !== expected[i]) { bad = i; break; }
    expect(bad, `rank ${r} of ${n}, length ${length}: first wrong element`).toBe(-1);
  }
}

const WORLDS = [1, 2, 3, 5, 8];
const lengths = (n: number): number[] => [...new Set([1, Math.max(1, n - 1), 1000, 1_000_003])];

describe.each([
  { name: 'ring over WebSockets', make: (n: number) => createRing(n) },
  { name: 'ring over local (Unix socket) endpoints', make: (n: number) => createRing(n, { transport: 'local' }) },
  // Tiny chunks force many pipelined frames per segment through the same code path.
  { name: 'ring with 64-byte chunks', make: (n: number) => createRing(n, { chunkBytes: 64 }) },
  { name: 'in-process group', make: async (n: number): Promise<TestRing> => ({ ranks: createLocalGroup(n), close: async () => undefined }) },
])('$name', ({ name, make }) => {
  const open: TestRing[] = [];
  afterAll(async () => {
    await Promise.all(open.map((r) => r.close()));
  });

  it.each(WORLDS)('sums exactly for N = %i at every length', async (n) => {
    const ring = await make(n);
    open.push(ring);
    for (const len of lengths(n)) {
      if (name.includes('64-byte') && len > 1000) continue;
      await checkSum(ring.ranks, len);
    }
  });

  it('stays correct over consecutive calls (no frame mixes into the next call)', async () => {
    const ring = await make(3);
    open.push(ring);
    for (let k = 0; k < 5; k++) await checkSum(ring.ranks, 777 + k);
  });
});

describe('ring failure', () => {
  it('rejects the collective on every rank when a link closes, instead of hanging', async () => {
    const ring = await createRing(3);
    const bufs = [0, 1, 2].map((r) => input(r, 10_000));
    // Rank 2 never joins the call and closes its links: ranks 0 and 1 must fail, not wait forever.
    const pending = [ring.ranks[0]!.allreduceSum(bufs[0]!), ring.ranks[1]!.allreduceSum(bufs[1]!)];
    await ring.ranks[2]!.close();
    const results = await Promise.allSettled(pending);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(results.map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(expect.arrayContaining(['RT_RING_FAILED']));
    await ring.close();
  });

  it('names the peer of the link that failed, with its place in the ring', async () => {
    const ring = await createRing(3);
    const bufs = [0, 1, 2].map((r) => input(r, 10_000));
    const pending = [ring.ranks[0]!.allreduceSum(bufs[0]!), ring.ranks[1]!.allreduceSum(bufs[1]!)];
    await ring.ranks[2]!.close();
    const reasons = (await Promise.allSettled(pending)).map((r) => (r as PromiseRejectedResult).reason as unknown);
    // Each failing rank names rank 2 (whose links closed) or the other failing rank (whose own
    // failure closed its links), and the role it gives matches the ring 0 -> 1 -> 2 -> 0.
    const named = reasons.map((e, rank) => {
      expect(e).toBeInstanceOf(RingPeerError);
      const { peer } = e as RingPeerError;
      expect(peer.rank).not.toBe(rank);
      if (peer.link === 'successor') expect(peer.rank).toBe((rank + 1) % 3);
      if (peer.link === 'predecessor') expect(peer.rank).toBe((rank + 2) % 3);
      return peer.rank;
    });
    expect(named).toContain(2);
    await ring.close();
  });
});
