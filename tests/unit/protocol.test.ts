import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { decodeMessage, encodeMessage, FRAME_HEADER_BYTES, readFrameHeader, writeFrameHeader, FrameKind, Dtype, payloadF32 } from '../../src/shared/protocol/codec.js';
import { MAX_REPORTS, parseMessage, parseTrainState, type Message, type StepDoneMsg } from '../../src/shared/protocol/protocol.js';
import { codeOf } from '../helpers/codes.js';
import type { RingtrainError } from '../../src/shared/base/errors.js';
import { adamParams, freshState } from '../helpers/train-state.js';

const packr = new Packr({ useRecords: false, moreTypes: true });

const code = codeOf;
/** The code and message an action throws with. */
function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return `${(err as RingtrainError).code}: ${(err as Error).message}`;
  }
  return 'no error';
}

describe('control messages', () => {
  const batch: Message = {
    type: 'batch', generation: 1, step: 3, epoch: 0, count: 2, nextEpoch: 0, nextCursor: 64, tensors: { x: Float32Array.of(1, 2, 3, 4), y: Float32Array.of(0, 1), label: Int32Array.of(3, 7) },
    checksum: true, sendState: false,
  };

  it('round-trip through msgpack with typed arrays intact', () => {
    const back = decodeMessage(encodeMessage(batch));
    expect(back).toEqual(batch);
    const t = (back as { tensors: Record<string, unknown> }).tensors;
    expect(t['x']).toBeInstanceOf(Float32Array);
    expect(t['label']).toBeInstanceOf(Int32Array);
  });

  it('rejects malformed input with RT_BAD_MESSAGE and never throws anything else', () => {
    expect(code(() => decodeMessage(Buffer.from([0xc1, 0x00, 0xff])))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack([1, 2, 3])))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ type: 'teleport' })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...batch, tensors: { x: [1, 2] } })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...batch, step: -1 })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ type: 'start', generation: 1, rank: 4, worldSize: 2 })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => parseMessage({ type: 'hello', protocol: 1, ringUrl: 'x'.repeat(5000), backend: 'cpu', host: 'h', pid: 1, job: null }))).toBe('RT_BAD_MESSAGE');
  });

  it('validates a train state: optimizer slots must match the parameters, scalars be finite, names be bounded', () => {
    const good = freshState(3, 1);
    const withOptim = (o: Record<string, unknown>): unknown => ({ type: 'state', generation: 1, state: { ...good, optim: { ...good.optim, ...o } } });
    expect(code(() => decodeMessage(packr.pack(withOptim({ slots: { m: new Float32Array(3), v: new Float32Array(2) } }))))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack(withOptim({ slots: { m: [0, 0, 0] } }))))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack(withOptim({ scalars: { t: 'one' } }))))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack(withOptim({ config: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])) }))))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ type: 'state', generation: 1, state: { ...good, optim: undefined } })))).toBe('RT_BAD_MESSAGE');
    const ok = decodeMessage(encodeMessage({ type: 'state', generation: 1, state: good }));
    expect(ok).toEqual({ type: 'state', generation: 1, state: good });
    expect(decodeMessage(packr.pack({ type: 'pause', generation: 2, atStep: null }))).toEqual({ type: 'pause', generation: 2, atStep: null });
  });

  it('carries every rank\'s ring address in start.peers (null: one rank), checked against the world size', () => {
    const state = freshState(2);
    const params = adamParams({ batchSize: 4, seed: 1, stepTimeoutMs: 1000 });
    const start = { type: 'start', generation: 1, rank: 0, worldSize: 2, successor: 'ws://b', job: 'j', params, state, fingerprint: 'f', ringSalt: new Uint8Array(32), dataFingerprint: null };
    expect(decodeMessage(packr.pack({ ...start, peers: ['ws://a', 'ws://b'] }))).toMatchObject({ peers: ['ws://a', 'ws://b'] });
    expect(decodeMessage(packr.pack({ ...start, peers: null }))).toMatchObject({ peers: null });
    expect(code(() => decodeMessage(packr.pack(start)))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...start, peers: ['ws://a'] })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...start, peers: ['ws://a', 7] })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...start, peers: 'ws://a' })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...start, peers: null, rank: 2 })))).toBe('RT_BAD_MESSAGE');
  });

  it('carries a batch as indices instead of rows: exactly one of {x, y} or {indices}, indices numbering count', () => {
    const head: Record<string, unknown> = Object.fromEntries(Object.entries(batch).filter(([k]) => k !== 'tensors'));
    // A view into a larger order, as the coordinator sends it: only the view travels.
    const order = Uint32Array.of(9, 4, 7, 1, 0);
    const indexed = { ...head, indices: order.subarray(1, 3) };
    const back = decodeMessage(encodeMessage(indexed as Message));
    expect(back).toEqual({ ...head, indices: Uint32Array.of(4, 7) });
    expect((back as { indices: unknown }).indices).toBeInstanceOf(Uint32Array);
    expect(back).not.toHaveProperty('tensors');
    // Both, neither, half of the rows, or indices of the wrong type or length.
    expect(code(() => decodeMessage(packr.pack({ ...batch, indices: Uint32Array.of(4, 7) })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack(head)))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...head, x: Float32Array.of(1) })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...head, tensors: { y: Float32Array.of(1) }, indices: Uint32Array.of(4, 7) })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...head, indices: Uint32Array.of(4) })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...head, indices: [4, 7] })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...head, indices: Float32Array.of(4, 7) })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...head, indices: Int32Array.of(4, 7) })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...head, tensors: { x: Uint32Array.of(1, 2, 3, 4), y: Float32Array.of(0, 1) } })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...batch, indices: null })))).toBe('RT_BAD_MESSAGE');
    // Rows that are no tensors: none, a bad name, a dtype the engines do not take.
    expect(code(() => decodeMessage(packr.pack({ ...head, tensors: {} })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...head, tensors: { 'no spaces': Float32Array.of(1) } })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...head, tensors: { x: Float64Array.of(1) } })))).toBe('RT_BAD_MESSAGE');
  });

  it('requires every field of start and ring-ready (peers run the same version), and checks each', () => {
    const state = freshState(2);
    const params = adamParams({ batchSize: 4, seed: 1, stepTimeoutMs: 1000 });
    const start = { type: 'start', generation: 1, rank: 0, worldSize: 1, successor: null, peers: null, job: 'j', params, state, fingerprint: 'f', ringSalt: new Uint8Array(32) };
    expect(code(() => decodeMessage(packr.pack(start)))).toBe('RT_BAD_MESSAGE');
    expect(decodeMessage(packr.pack({ ...start, dataFingerprint: null }))).toMatchObject({ dataFingerprint: null });
    expect(decodeMessage(packr.pack({ ...start, dataFingerprint: 'd' }))).toMatchObject({ dataFingerprint: 'd' });
    expect(code(() => decodeMessage(packr.pack({ ...start, dataFingerprint: 7 })))).toBe('RT_BAD_MESSAGE');
    const { compress: _c, ...oldParams } = params;
    expect(code(() => decodeMessage(packr.pack({ ...start, dataFingerprint: null, params: oldParams })))).toBe('RT_BAD_MESSAGE');
    const ready = { type: 'ring-ready', generation: 1, engine: 'wasm', engineReason: 'r', fingerprint: { paramCount: 1, weights: [], architecture: 'a' }, device: 'CPU', threads: 4, localData: true };
    expect(decodeMessage(packr.pack(ready))).toEqual(ready);
    expect(decodeMessage(packr.pack({ ...ready, threads: null }))).toMatchObject({ threads: null });
    for (const field of ['device', 'threads', 'localData'] as const) {
      const { [field]: _gone, ...without } = ready;
      expect([field, code(() => decodeMessage(packr.pack(without)))]).toEqual([field, 'RT_BAD_MESSAGE']);
    }
    expect(code(() => decodeMessage(packr.pack({ ...ready, fingerprint: { paramCount: 1, weights: [] } })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...ready, localData: 'yes' })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...ready, threads: 0 })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...ready, device: 'x'.repeat(300) })))).toBe('RT_BAD_MESSAGE');
  });

  it('carries the peer a ring-failed report names (optional), checked when present', () => {
    const failed = { type: 'ring-failed', generation: 2, step: 5, code: 'RT_RING_FAILED', message: 'm' };
    expect(decodeMessage(packr.pack(failed))).not.toHaveProperty('peer');
    expect(decodeMessage(packr.pack({ ...failed, peer: { rank: 2, link: 'successor' } }))).toMatchObject({ peer: { rank: 2, link: 'successor' } });
    expect(code(() => decodeMessage(packr.pack({ ...failed, peer: null })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...failed, peer: { rank: 2, link: 'sideways' } })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...failed, peer: { rank: -1, link: 'mesh' } })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ ...failed, peer: 'rank 2' })))).toBe('RT_BAD_MESSAGE');
  });

  it('carries step reports only in batches: one to MAX_REPORTS per reports message, each checked', () => {
    const report = { type: 'step-done', generation: 1, step: 4, loss: NaN, samples: 64, checksum: null, timings: { waitMs: 0, computeMs: 1, allreduceMs: 2, updateMs: 0, commMs: 3 }, skipped: true };
    const back = decodeMessage(encodeMessage({ type: 'reports', reports: [report as StepDoneMsg, { ...report, step: 5, loss: 0.5 } as StepDoneMsg] }));
    expect(back).toEqual({ type: 'reports', reports: [report, { ...report, step: 5, loss: 0.5 }] });
    // A report on its own is not a message.
    expect(code(() => decodeMessage(packr.pack(report)))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ type: 'reports', reports: [] })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ type: 'reports', reports: Array.from({ length: MAX_REPORTS + 1 }, () => report) })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ type: 'reports', reports: [report, { ...report, samples: -1 }] })))).toBe('RT_BAD_MESSAGE');
    expect(code(() => decodeMessage(packr.pack({ type: 'reports', reports: [{ ...report, timings: { ...report.timings, waitMs: Infinity } }] })))).toBe('RT_BAD_MESSAGE');
  });

  it('refuses unknown fields, and says which field is wrong in one bounded line', () => {
    const go = { type: 'go', generation: 1 };
    expect(decodeMessage(packr.pack(go))).toEqual(go);
    expect(messageOf(() => decodeMessage(packr.pack({ ...go, extra: 1 })))).toBe('RT_BAD_MESSAGE: malformed message: message must not have additional properties: ["extra"]');
    const params = adamParams({ epochs: 0 });
    const start = { type: 'start', generation: 1, rank: 0, worldSize: 1, successor: null, peers: null, job: 'j', params, state: freshState(1), fingerprint: 'f', ringSalt: new Uint8Array(32), dataFingerprint: null };
    expect(messageOf(() => decodeMessage(packr.pack(start)))).toBe('RT_BAD_MESSAGE: malformed message: field params.epochs must be >= 1');
    const hostile = messageOf(() => decodeMessage(packr.pack({ ...go, [`a\nb${'x'.repeat(1000)}`]: 1 })));
    expect(hostile).not.toContain('\n');
    expect(hostile.length).toBeLessThan(400);
    expect(messageOf(() => parseTrainState({ ...freshState(2), params: new Float32Array(3) }))).toBe('RT_BAD_MESSAGE: malformed message: field state must have optimizer slots as long as its parameters');
  });

  it('maps an unknown remote error code to RT_INTERNAL rather than trusting it', () => {
    const m = parseMessage({ type: 'error', code: 'EVIL', message: 'x' });
    expect(m).toEqual({ type: 'error', code: 'RT_INTERNAL', message: 'x' });
  });
});

describe('ring frames', () => {
  it('round-trip the header and expose the payload', () => {
    const payload = Float32Array.of(1.5, -2, 3);
    const frame = Buffer.alloc(FRAME_HEADER_BYTES + 12);
    const h = { kind: FrameKind.Data, dtype: Dtype.F32, hop: 5, generation: 7, seq: 9, offset: 100, count: 3 };
    writeFrameHeader(frame, h);
    frame.set(new Uint8Array(payload.buffer), FRAME_HEADER_BYTES);
    expect(readFrameHeader(frame)).toEqual(h);
    expect(Array.from(payloadF32(frame, 3))).toEqual([1.5, -2, 3]);
    // An unaligned view still decodes (by copying).
    const shifted = Buffer.alloc(frame.length + 1).subarray(1);
    frame.copy(shifted);
    expect(Array.from(payloadF32(shifted, 3))).toEqual([1.5, -2, 3]);
  });

  it('rejects short frames, unknown kinds and lying lengths', () => {
    expect(code(() => readFrameHeader(Buffer.alloc(5)))).toBe('RT_BAD_FRAME');
    const f = Buffer.alloc(FRAME_HEADER_BYTES + 8);
    writeFrameHeader(f, { kind: 9, dtype: 1, hop: 0, generation: 1, seq: 1, offset: 0, count: 2 });
    expect(code(() => readFrameHeader(f))).toBe('RT_BAD_FRAME');
    writeFrameHeader(f, { kind: FrameKind.Data, dtype: Dtype.F32, hop: 0, generation: 1, seq: 1, offset: 0, count: 3 });
    expect(code(() => readFrameHeader(f))).toBe('RT_BAD_FRAME');
  });
});
