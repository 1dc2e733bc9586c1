/**
 * The pipelined ring in memory (tests/helpers/memory-links.ts): bit for bit the reference ring
 * order (tests/helpers/allreduce-reference.ts) under float32 and float16, on every rank, whatever
 * the interleaving of links and however late a rank starts; and its checks on incoming frames.
 */
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/shared/base/buffer-pool.js';
import { Dtype, FrameKind, type FrameHeader } from '../../src/shared/protocol/codec.js';
import { RingAllreduce } from '../../src/shared/collective/ring-allreduce.js';
import { f16Codec, f32Codec } from '../../src/shared/collective/wire-codec.js';
import { MemoryNet, allreduceInMemory, expectReferenceSums, memoryRing, memoryState } from '../helpers/memory-links.js';
import { exactWire, f16Wire, firstBitDifference, realInputs, ringReference } from '../helpers/allreduce-reference.js';

describe('ring all-reduce (in memory)', () => {
  for (const [name, codec, wire] of [['float32', f32Codec, exactWire], ['float16', f16Codec, f16Wire]] as const) {
    it(`${name}: every rank holds the ring-order sum bit for bit, for N = 2, 3, 5, 8 and chunks of 7 and 1000 values`, async () => {
      const early = await expectReferenceSums(memoryRing, (inputs) => ringReference(inputs, wire), codec, [2, 3, 5, 8], (diff, what) => expect(diff, what).toBe(-1));
      // Ring frames are gathered whole only when they arrive before their call started here.
      expect(early, 'frames that arrived before their call started').toBeGreaterThan(0);
    });
  }

  it('an exact call (float32) amid float16 calls is not rounded', async () => {
    const n = 3;
    const ranks = memoryRing(new MemoryNet(5), n, 16);
    const inputs = realInputs(n, 100);
    const exact = inputs.map((b) => b.slice());
    await allreduceInMemory(ranks, exact, f32Codec, 1);
    const rounded = inputs.map((b) => b.slice());
    await allreduceInMemory(ranks, rounded, f16Codec, 2);
    expect(firstBitDifference(exact[0]!, ringReference(inputs, exactWire))).toBe(-1);
    expect(firstBitDifference(rounded[0]!, ringReference(inputs, f16Wire))).toBe(-1);
    expect(firstBitDifference(exact[0]!, rounded[0]!)).not.toBe(-1);
  });
});

describe('ring frame checks', () => {
  const header = (h: Partial<FrameHeader>): FrameHeader => ({ kind: FrameKind.Data, dtype: Dtype.F32, hop: 0, generation: 1, seq: 1, offset: 0, count: 1, ...h });

  function startedRank(): { ring: RingAllreduce; state: ReturnType<typeof memoryState> } {
    // Rank 1 of 3, 30 values: on hop 0 it receives segment 0, values [0, 10).
    const state = memoryState(1, 3, 4);
    const ring = new RingAllreduce(state, () => undefined, new BufferPool(1));
    state.seq = 1;
    state.busy = true;
    ring.start({ buf: new Float32Array(30), seq: 1, codec: f32Codec }, () => undefined);
    return { ring, state };
  }

  it('refuses a frame outside the segment its hop names, of another dtype, or longer than a chunk', () => {
    const { ring } = startedRank();
    expect(() => ring.route(header({ offset: 8, count: 4 }))).toThrow(/does not fit segment \[0, \+10\)/);
    expect(() => ring.route(header({ dtype: Dtype.F16 }))).toThrow(/dtype 2|does not fit/);
    expect(() => ring.route(header({ count: 5 }))).toThrow(/does not fit/);
    expect(() => ring.route(header({ hop: 4 }))).toThrow(/does not fit/);
    expect(typeof ring.route(header({ offset: 4, count: 4 }))).toBe('object');
  });

  it('keeps the next call\'s frames, drops stale ones and other generations\', and drops all once failed', () => {
    const { ring, state } = startedRank();
    expect(ring.route(header({ seq: 2 }))).toBe('collect');
    expect(ring.route(header({ seq: 0 }))).toBe('discard');
    expect(ring.route(header({ generation: 2 }))).toBe('discard');
    state.fail(new Error('gone'));
    expect(ring.route(header({}))).toBe('discard');
  });

  it('fails the collective when a frame gathered early does not fit the call it belongs to', () => {
    const state = memoryState(1, 3, 4);
    const ring = new RingAllreduce(state, () => undefined, new BufferPool(1));
    const h = header({ offset: 28, count: 2 });
    expect(ring.route(h)).toBe('collect');
    ring.arrived(h, 'collect', Buffer.alloc(8));
    state.seq = 1;
    ring.start({ buf: new Float32Array(30), seq: 1, codec: f32Codec }, () => undefined);
    expect(state.failures.map((e) => (e as { code?: string }).code)).toEqual(['RT_BAD_FRAME']);
  });
});
