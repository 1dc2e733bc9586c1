import { describe, expect, it } from 'vitest';
import { FramePairer } from '../../src/shared/frame-pairer.js';
import { Dtype, FRAME_HEADER_BYTES, FrameKind, bytesAsF32, writeFrameHeader, type FrameHeader } from '../../src/shared/codec.js';

function head(h: Partial<FrameHeader>): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  writeFrameHeader(b, { kind: FrameKind.DataHead, dtype: Dtype.F32, hop: 1, generation: 3, seq: 9, offset: 4, count: 2, ...h });
  return b;
}

describe('data header + payload framing', () => {
  it('pairs a header with the next message', () => {
    const p = new FramePairer(1024);
    expect(p.push(head({}))).toBeNull();
    const f = p.push(Buffer.alloc(8));
    expect(f?.header).toMatchObject({ hop: 1, generation: 3, seq: 9, offset: 4, count: 2 });
    expect(f?.payload.length).toBe(8);
    expect(p.push(head({ dtype: Dtype.F16, count: 3 }))).toBeNull();
    expect(p.push(Buffer.alloc(6))?.header.dtype).toBe(Dtype.F16);
  });

  it('accepts a whole data frame in one message', () => {
    const p = new FramePairer(1024);
    const f = p.push(Buffer.concat([head({ kind: FrameKind.Data }), Buffer.from(Float32Array.of(1, 2).buffer)]));
    expect(f?.header).toMatchObject({ kind: FrameKind.Data, offset: 4, count: 2 });
    expect(Array.from(bytesAsF32(f!.payload))).toEqual([1, 2]);
  });

  it.each([
    ['a payload of the wrong length', [head({}), Buffer.alloc(7)]],
    ['a payload where a header belongs', [Buffer.alloc(8)]],
    ['a header announcing more than the limit', [head({ count: 1000 })]],
    ['a header announcing nothing', [head({ count: 0 })]],
    ['an unknown dtype', [head({ dtype: 9 })]],
    ['a combined data frame without its payload', [head({ kind: FrameKind.Data })]],
    ['a combined data frame over the limit', [Buffer.concat([head({ kind: FrameKind.Data, count: 300 }), Buffer.alloc(1200)])]],
  ])('rejects %s with RT_BAD_FRAME', (_what, msgs) => {
    const p = new FramePairer(1024);
    expect(() => msgs.forEach((m) => p.push(m))).toThrow(expect.objectContaining({ code: 'RT_BAD_FRAME' }));
  });
});

describe('payload views', () => {
  it('views aligned float32 payloads and copies unaligned ones', () => {
    const raw = Buffer.alloc(13);
    raw.writeFloatLE(1.5, 1);
    raw.writeFloatLE(-2, 5);
    const unaligned = bytesAsF32(raw.subarray(1, 9));
    expect(Array.from(unaligned)).toEqual([1.5, -2]);
    const aligned = Buffer.alloc(8);
    aligned.writeFloatLE(3, 4);
    const view = bytesAsF32(aligned);
    aligned.writeFloatLE(7, 0);
    expect(Array.from(view)).toEqual([7, 3]);
  });
});
