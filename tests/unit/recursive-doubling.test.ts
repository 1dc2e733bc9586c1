/**
 * Recursive doubling in memory (tests/helpers/memory-links.ts): bit for bit its reference order
 * (tests/helpers/allreduce-reference.ts) under float32 and float16, on every rank, for powers of
 * two and for worlds with extra ranks folded in; and the mesh exchange's checks on what peers send.
 */
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/shared/base/buffer-pool.js';
import { Dtype, FrameKind } from '../../src/shared/protocol/codec.js';
import { MeshExchange } from '../../src/shared/collective/mesh-exchange.js';
import { RecursiveDoubling } from '../../src/shared/collective/recursive-doubling.js';
import { f16Codec, f32Codec } from '../../src/shared/collective/wire-codec.js';
import { expectReferenceSums, memoryMesh, memoryState } from '../helpers/memory-links.js';
import { doublingReference, exactWire, f16Wire } from '../helpers/allreduce-reference.js';

describe('recursive doubling (in memory)', () => {
  for (const [name, codec, wire] of [['float32', f32Codec, exactWire], ['float16', f16Codec, f16Wire]] as const) {
    it(`${name}: every rank holds the reference sum bit for bit, for N = 2, 3, 4, 5, 8 and chunks of 7 and 1000 values`, async () => {
      const early = await expectReferenceSums((net, n, chunk) => memoryMesh(net, n, chunk, (s, m) => new RecursiveDoubling(s, m)), (inputs) => doublingReference(inputs, wire), codec, [2, 3, 4, 5, 8], (diff, what) => expect(diff, what).toBe(-1));
      expect(early).toBeGreaterThan(0);
    });
  }
});

describe('mesh exchange checks', () => {
  const frame = (h: { seq?: number; offset: number; count: number; dtype?: number }) => ({
    header: { kind: FrameKind.Data, dtype: h.dtype ?? Dtype.F32, hop: 1, generation: 1, seq: h.seq ?? 1, offset: h.offset, count: h.count },
    payload: Buffer.alloc(h.count * 4),
  });

  function exchange(): { mesh: MeshExchange; state: ReturnType<typeof memoryState> } {
    const state = memoryState(0, 2, 4);
    return { mesh: new MeshExchange(state, () => () => undefined, new BufferPool(1)), state };
  }

  it('takes frames of the call in progress and of the next, and drops others', () => {
    const { mesh, state } = exchange();
    const h = frame({ offset: 0, count: 1 }).header;
    expect(mesh.route(1, h)).toBe('collect');
    expect(mesh.route(1, { ...h, seq: 2 })).toBe('discard');
    expect(mesh.route(1, { ...h, generation: 2 })).toBe('discard');
    state.seq = 1;
    state.busy = true;
    expect(mesh.route(1, h)).toBe('collect');
    expect(mesh.route(1, { ...h, seq: 2 })).toBe('collect');
    state.fail(new Error('gone'));
    expect(mesh.route(1, { ...h, seq: 2 })).toBe('discard');
  });

  it('hands a round its frames once they cover the span, and fails on values outside it or of another dtype', async () => {
    const ok = exchange();
    const got = ok.mesh.receive(1, 1, 1, { start: 4, length: 6 }, f32Codec);
    ok.mesh.arrived(1, frame({ offset: 8, count: 2 }));
    ok.mesh.arrived(1, frame({ offset: 4, count: 4 }));
    expect((await got).map((f) => f.header.offset)).toEqual([8, 4]);
    expect(ok.state.failures).toEqual([]);

    const outside = exchange();
    void outside.mesh.receive(1, 1, 1, { start: 4, length: 6 }, f32Codec);
    outside.mesh.arrived(1, frame({ offset: 8, count: 4 }));
    expect(outside.state.failures.map((e) => (e as { code?: string }).code)).toEqual(['RT_BAD_FRAME']);

    const dtype = exchange();
    dtype.mesh.arrived(1, frame({ offset: 0, count: 2, dtype: Dtype.F16 }));
    void dtype.mesh.receive(1, 1, 1, { start: 0, length: 2 }, f32Codec);
    expect(dtype.state.failures.map((e) => (e as { code?: string }).code)).toEqual(['RT_BAD_FRAME']);
  });
});
