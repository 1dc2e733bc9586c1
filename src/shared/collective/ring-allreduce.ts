/**
 * The pipelined ring all-reduce (bandwidth-optimal): reduce-scatter then all-gather, N-1 hops
 * each. The buffer is cut into N segments and each segment into chunks. A chunk travels 2N-2 hops
 * round the ring: on hops 0..N-2 each rank adds its own values into it, on hops N-1..2N-3 each rank
 * copies the finished sum. The chunk a rank forwards on hop h+1 is exactly the one it received on
 * hop h, so every chunk is forwarded the moment it is reduced (no step barrier).
 *
 * Segment s is summed in ring order starting at rank s, ((x_s + x_s+1) + x_s+2) + ..., by every
 * rank alike; that fixed order is what keeps replicas bit-identical.
 *
 * Sends are views of the caller's buffer, never copies. That is safe because every region this
 * rank overwrites after sending it (the all-gather copy into a segment it sent earlier) is written
 * only with data that causally followed the earlier send round the ring, so the earlier bytes had
 * left this process.
 */
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { FrameKind, type FrameHeader } from '../protocol/codec.js';
import type { FrameTarget, Route } from '../transport/ring-stream.js';
import { segmentBounds, type Span } from '../kernels/flat.js';
import type { BufferPool } from '../base/buffer-pool.js';
import type { AllreduceCall, AllreduceOp, CollectiveState, DataFrame, SendFrame } from './algorithm.js';
import { RingPeerError } from './peer-error.js';

interface RingRun extends AllreduceCall {
  recvLeft: number;
  sendLeft: number;
  done: (err: Error | null) => void;
}

/** The ring algorithm of one rank: sends to its successor, receives from its predecessor. */
export class RingAllreduce implements AllreduceOp {
  private run: RingRun | null = null;
  /** Frames of the next call that arrived before this rank started it. */
  private early: DataFrame[] = [];

  /**
   * `send` goes to the successor; frames from the predecessor come in through `route` and `end`.
   * `pool` takes back the buffers of frames gathered whole once they are applied.
   */
  constructor(private readonly state: CollectiveState, private readonly send: SendFrame, private readonly pool: BufferPool) {}

  /** What the call in progress still waits for, for a timeout's message. */
  progress(): { recvLeft: number; sendLeft: number } | null {
    return this.run ? { recvLeft: this.run.recvLeft, sendLeft: this.run.sendLeft } : null;
  }

  /** Segment whose chunks arrive on `hop` at this rank. */
  private segmentForHop(length: number, hop: number): Span {
    const n = this.state.worldSize;
    return segmentBounds(length, n, (((this.state.rank - hop - 1) % n) + n) % n);
  }

  /** The ring's last hop: N-1 reduce-scatter hops (0..N-2), then N-2 all-gather forwards. */
  private get lastHop(): number {
    return 2 * this.state.worldSize - 3;
  }

  private chunks(span: Span): number {
    return Math.ceil(span.length / this.state.chunkElems);
  }

  start(call: AllreduceCall, done: (err: Error | null) => void): void {
    const { worldSize: n, rank, chunkElems } = this.state;
    const { buf } = call;
    const lastHop = this.lastHop;
    let recvLeft = 0;
    let sendLeft = this.chunks(segmentBounds(buf.length, n, rank));
    for (let hop = 0; hop <= lastHop; hop++) {
      const c = this.chunks(this.segmentForHop(buf.length, hop));
      recvLeft += c;
      if (hop < lastHop) sendLeft += c;
    }
    const run: RingRun = { ...call, recvLeft, sendLeft, done };
    this.run = run;
    if (n === 1 || (recvLeft === 0 && sendLeft === 0)) {
      done(null);
      return;
    }
    const own = segmentBounds(buf.length, n, rank);
    for (let off = 0; off < own.length; off += chunkElems) this.forward(run, 0, own.start + off, Math.min(chunkElems, own.length - off));
    const early = this.early;
    this.early = [];
    for (const f of early) {
      if (this.run !== run) return;
      this.applyEarly(run, f);
    }
  }

  forget(): void {
    this.run = null;
  }

  private forward(run: RingRun, hop: number, offset: number, count: number): void {
    const { state } = this;
    // The first all-gather hop sends a finished sum: under fp16, round this rank's copy the same way.
    const bytes = run.codec.encode(run.buf.subarray(offset, offset + count), hop === state.worldSize - 1);
    this.send({ kind: FrameKind.Data, dtype: run.codec.dtype, hop, generation: state.generation, seq: run.seq, offset, count }, bytes, (err) => {
      if (err) {
        const succ = (state.rank + 1) % state.worldSize;
        state.fail(new RingPeerError(ErrorCodes.RING_FAILED, `sending to ring successor rank ${succ} failed: ${err.message}`, { rank: succ, link: 'successor' }));
        return;
      }
      if (this.run !== run) return;
      run.sendLeft--;
      this.maybeDone(run);
    });
  }

  /** Where a frame from the predecessor goes: into the call in progress, or aside. */
  route(h: FrameHeader): Route {
    const { state } = this;
    if (state.failure) return 'discard';
    if (h.generation !== state.generation) {
      state.log.warn({ code: ErrorCodes.BAD_FRAME, kind: h.kind, generation: h.generation, seq: h.seq }, 'ring frame for another generation or of unexpected kind dropped');
      return 'discard';
    }
    const run = this.run;
    if (!run || h.seq !== run.seq) {
      // A predecessor that already started the next call: kept until this rank starts it.
      if (h.seq === state.seq + 1) return 'collect';
      state.log.warn({ code: ErrorCodes.BAD_FRAME, seq: h.seq, current: state.seq }, 'stale ring frame dropped');
      return 'discard';
    }
    return this.target(run, h);
  }

  /**
   * Checks a frame against the call in progress and returns where its payload is added
   * (reduce-scatter hops) or copied (all-gather hops): straight from the socket's read buffers.
   */
  private target(run: RingRun, h: FrameHeader): FrameTarget {
    const seg = this.segmentForHop(run.buf.length, h.hop);
    const { codec, buf } = run;
    if (h.dtype !== codec.dtype || h.hop > this.lastHop || h.offset < seg.start || h.offset + h.count > seg.start + seg.length || h.count > this.state.chunkElems) {
      throw new RingtrainError(ErrorCodes.BAD_FRAME, `ring frame hop ${h.hop} dtype ${h.dtype} [${h.offset}, +${h.count}) does not fit segment [${seg.start}, +${seg.length}) of a dtype-${codec.dtype} all-reduce`);
    }
    const add = h.hop < this.state.worldSize - 1;
    const anyAlignment = codec.takesUnaligned(buf);
    const piece = (bytes: Buffer, at: number): void => codec.apply(buf, h.offset + at, bytes, add);
    if (add || !codec.storesRaw) return { anyAlignment, piece };
    // An all-gather payload is stored unchanged: the link may read it straight into place.
    const base = buf.byteOffset + h.offset * 4;
    return { piece, bytesAt: (from, length) => new Uint8Array(buf.buffer, base + from, length) };
  }

  /** A frame from the predecessor is complete (its payload is set when it was collected). */
  arrived(h: FrameHeader, route: Route, payload: Buffer | null): void {
    if (this.state.failure || route === 'discard') return;
    const run = this.run;
    if (route === 'collect') {
      const f = { header: h, payload: payload! };
      // Its header came before this rank started the call; its end may come after.
      if (run && run.seq === h.seq) this.applyEarly(run, f);
      else this.early.push(f);
      return;
    }
    if (run && run.seq === h.seq) this.received(run, h);
  }

  /** Applies a frame that was gathered before its call started here. */
  private applyEarly(run: RingRun, f: DataFrame): void {
    try {
      this.target(run, f.header).piece(f.payload, 0);
    } catch (err) {
      this.state.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.pool.give(f.payload);
    this.received(run, f.header);
  }

  /** A chunk of this call is in: forward it on the next hop (if any). */
  private received(run: RingRun, h: FrameHeader): void {
    run.recvLeft--;
    if (h.hop < this.lastHop) this.forward(run, h.hop + 1, h.offset, h.count);
    this.maybeDone(run);
  }

  private maybeDone(run: RingRun): void {
    if (run.recvLeft > 0 || run.sendLeft > 0 || this.run !== run) return;
    run.done(null);
  }
}
