/**
 * The pairwise exchanges of recursive doubling and halving-doubling over the mesh links: a round
 * sends a span of the buffer to a partner and waits for the partner's frames of the same round.
 * Mesh payloads are gathered whole into slots keyed by (call, round, sender), because a faster
 * partner may send a round, or the next call, before this rank asks for it; a round adds them only
 * once its own send has gone out, so sends stay views of the caller's buffer.
 */
import { Defaults } from '../base/constants.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { FrameKind, type FrameHeader } from '../protocol/codec.js';
import type { Route } from '../transport/ring-stream.js';
import type { Span } from '../kernels/flat.js';
import type { BufferPool } from '../base/buffer-pool.js';
import type { CollectiveState, DataFrame, SendFrame } from './algorithm.js';
import type { WireCodec } from './wire-codec.js';
import { RingPeerError } from './peer-error.js';

/** Frames that arrived from one peer for one round, until the round asks for them. */
interface MeshSlot {
  frames: DataFrame[];
  elems: number;
  waiter: { span: Span; dtype: number; resolve: (f: DataFrame[]) => void } | null;
}

/** One rank's side of the mesh: sends spans to peers and hands each round the frames it waits for. */
export class MeshExchange {
  private readonly slots = new Map<string, MeshSlot>();

  /** `send(peer)` sends to that mesh peer; frames from peers come in through `route` and `arrived`. */
  constructor(private readonly state: CollectiveState, private readonly send: (peer: number) => SendFrame, private readonly pool: BufferPool) {}

  /** Sends `span` of `buf` to `peer` in chunks; resolves once the transport has taken every byte. */
  sendSpan(peer: number, seq: number, hop: number, buf: Float32Array, span: Span, codec: WireCodec, roundInPlace: boolean): Promise<void> {
    const { chunkElems, generation } = this.state;
    const send = this.send(peer);
    const chunks: Promise<void>[] = [];
    for (let off = span.start; off < span.start + span.length; off += chunkElems) {
      const count = Math.min(chunkElems, span.start + span.length - off);
      const bytes = codec.encode(buf.subarray(off, off + count), roundInPlace);
      chunks.push(new Promise<void>((resolve, reject) => {
        send({ kind: FrameKind.Data, dtype: codec.dtype, hop, generation, seq, offset: off, count }, bytes, (err) => (err ? reject(new RingPeerError(ErrorCodes.RING_FAILED, `sending to rank ${peer} failed: ${err.message}`, { rank: peer, link: 'mesh' })) : resolve()));
      }));
    }
    return Promise.all(chunks).then(() => undefined);
  }

  /** Resolves with the frames `peer` sent for (seq, hop) once they cover `span`. */
  receive(peer: number, seq: number, hop: number, span: Span, codec: WireCodec): Promise<DataFrame[]> {
    const key = `${seq}/${hop}/${peer}`;
    const s = this.slot(key);
    return new Promise((resolve) => {
      s.waiter = { span, dtype: codec.dtype, resolve };
      this.check(peer, key, s);
    });
  }

  /** Adds (or copies) received frames into `buf`, and returns their buffers to the pool. */
  apply(frames: DataFrame[], buf: Float32Array, codec: WireCodec, add: boolean): void {
    for (const f of frames) {
      codec.apply(buf, f.header.offset, f.payload, add);
      this.pool.give(f.payload);
    }
  }

  /** Where a frame from mesh peer `peer` goes: gathered whole, or dropped. */
  route(peer: number, h: FrameHeader): Route {
    const { state } = this;
    if (state.failure) return 'discard';
    // The call in progress, or the next one when a faster peer has already started it.
    if (h.generation !== state.generation || !(h.seq === state.seq + 1 || (state.busy && h.seq === state.seq))) {
      state.log.warn({ code: ErrorCodes.BAD_FRAME, peer, generation: h.generation, seq: h.seq, current: state.seq }, 'mesh frame for another generation or collective dropped');
      return 'discard';
    }
    return 'collect';
  }

  /** A frame from mesh peer `peer` is complete. */
  arrived(peer: number, f: DataFrame): void {
    if (this.state.failure) return;
    const h = f.header;
    const key = `${h.seq}/${h.hop}/${peer}`;
    const s = this.slot(key);
    s.frames.push(f);
    s.elems += h.count;
    this.check(peer, key, s);
  }

  /** Drops every waiting frame and round (the collective has failed). */
  clear(): void {
    this.slots.clear();
  }

  private slot(key: string): MeshSlot {
    let s = this.slots.get(key);
    if (!s) this.slots.set(key, (s = { frames: [], elems: 0, waiter: null }));
    return s;
  }

  /** Hands a slot to its waiter once complete; fails on data that cannot belong to the buffer. */
  private check(peer: number, key: string, s: MeshSlot): void {
    const w = s.waiter;
    const lo = w ? w.span.start : 0;
    const hi = w ? w.span.start + w.span.length : Defaults.ringMaxBufferedValues;
    if (s.elems > hi - lo || s.frames.some((x) => x.header.offset < lo || x.header.offset + x.header.count > hi || (w !== null && x.header.dtype !== w.dtype))) {
      this.state.fail(new RingtrainError(ErrorCodes.BAD_FRAME, `mesh peer rank ${peer} sent values outside [${lo}, ${hi}) or of the wrong dtype`));
      return;
    }
    if (w && s.elems === w.span.length) {
      this.slots.delete(key);
      w.resolve(s.frames);
    }
  }
}
