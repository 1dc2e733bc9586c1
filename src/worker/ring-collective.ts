/**
 * Ring all-reduce over WebSockets: reduce-scatter then all-gather, N-1 hops each.
 *
 * The buffer is cut into N segments and each segment into chunks. A chunk travels 2N-2 hops round
 * the ring: on hops 0..N-2 each rank adds its own values into it, on hops N-1..2N-3 each rank
 * copies the finished sum. The chunk a rank forwards on hop h+1 is exactly the one it received on
 * hop h, so every chunk is forwarded the moment it is reduced: sending, receiving and reducing
 * overlap chunk by chunk with no global step barrier (a pipelined ring).
 *
 * Data flows only from a rank to its successor, over the connection the rank opened as a client,
 * with an all-zero mask so the link pays no per-byte masking cost.
 */
import type { WebSocket } from 'ws';
import type { Collective } from './collective.js';
import type { RingServer } from './ring-server.js';
import { Defaults } from '../shared/constants.js';
import { ErrorCodes, RingtrainError } from '../shared/errors.js';
import { Dtype, FRAME_HEADER_BYTES, FrameKind, payloadF32, readFrameHeader, writeFrameHeader, type FrameHeader } from '../shared/codec.js';
import { addInto, segmentBounds, type Span } from '../shared/flat.js';
import type { Logger } from '../shared/logger.js';
import type { TlsMaterial } from '../shared/tls.js';
import { FatalDialError, dialOnce } from './ring-handshake.js';

export interface RingOptions {
  server: RingServer;
  generation: number;
  rank: number;
  worldSize: number;
  successorUrl: string;
  connectTimeoutMs: number;
  opTimeoutMs: number;
  chunkBytes?: number;
  log: Logger;
  /** This generation's ring key (auth.ts deriveRingKey); neighbours prove it to each other. */
  ringKey: Uint8Array;
  /** Trust anchors for a wss:// successor. */
  tls?: TlsMaterial | null;
}

interface Op {
  seq: number;
  buf: Float32Array;
  recvLeft: number;
  sendLeft: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Opens the link to the successor, retrying until the deadline (it may still be starting). */
async function dialSuccessor(opts: RingOptions): Promise<WebSocket> {
  const { successorUrl: url, connectTimeoutMs: timeoutMs } = opts;
  const deadline = Date.now() + timeoutMs;
  let delay: number = Defaults.connectBackoffMs;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      return await dialOnce({ url, generation: opts.generation, rank: opts.rank, ringKey: opts.ringKey, tls: opts.tls ?? null, timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (err) {
      if (err instanceof FatalDialError) throw err.error;
      lastError = err instanceof Error ? err.message : String(err);
      await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
      delay = Math.min(delay * 2, Defaults.connectBackoffMaxMs);
    }
  }
  throw new RingtrainError(ErrorCodes.RING_FAILED, `could not connect to ring successor ${url} within ${timeoutMs} ms (${lastError})`);
}

export class RingCollective implements Collective {
  readonly rank: number;
  readonly worldSize: number;
  private readonly generation: number;
  private readonly chunkElems: number;
  private readonly opTimeoutMs: number;
  private readonly log: Logger;
  private seq = 0;
  private op: Op | null = null;
  /** Frames of the next collective that arrived before this rank started it. */
  private early: Buffer[] = [];
  private failure: Error | null = null;

  private constructor(opts: RingOptions, private readonly pred: WebSocket, private readonly succ: WebSocket) {
    this.rank = opts.rank;
    this.worldSize = opts.worldSize;
    this.generation = opts.generation;
    this.chunkElems = Math.max(1, Math.floor((opts.chunkBytes ?? Defaults.ringChunkBytes) / 4));
    this.opTimeoutMs = opts.opTimeoutMs;
    this.log = opts.log;
    const predRank = (this.rank - 1 + this.worldSize) % this.worldSize;
    const succRank = (this.rank + 1) % this.worldSize;
    pred.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary));
    pred.on('close', () => this.fail(new RingtrainError(ErrorCodes.RING_FAILED, `ring link from predecessor rank ${predRank} closed`)));
    pred.on('error', (err) => this.fail(new RingtrainError(ErrorCodes.RING_FAILED, `ring link from predecessor rank ${predRank} failed: ${err.message}`)));
    succ.on('close', () => this.fail(new RingtrainError(ErrorCodes.RING_FAILED, `ring link to successor rank ${succRank} closed`)));
    succ.on('error', (err) => this.fail(new RingtrainError(ErrorCodes.RING_FAILED, `ring link to successor rank ${succRank} failed: ${err.message}`)));
    // Nothing the successor sends is meaningful: data only flows forward.
    succ.on('message', () => this.log.warn({ succRank }, 'unexpected frame from ring successor dropped'));
    pred.resume();
  }

  /** Forms this rank's part of the ring: dials the successor and accepts the predecessor. */
  static async connect(opts: RingOptions): Promise<RingCollective> {
    const predRank = (opts.rank - 1 + opts.worldSize) % opts.worldSize;
    const predP = opts.server.awaitPredecessor(opts.generation, predRank, opts.ringKey, opts.connectTimeoutMs);
    const succP = dialSuccessor(opts);
    const [pred, succ] = await Promise.allSettled([predP, succP]);
    if (pred.status === 'rejected' || succ.status === 'rejected') {
      if (pred.status === 'fulfilled') pred.value.terminate();
      if (succ.status === 'fulfilled') succ.value.terminate();
      throw pred.status === 'rejected' ? pred.reason : (succ as PromiseRejectedResult).reason;
    }
    return new RingCollective(opts, pred.value, succ.value);
  }

  /** Segment whose chunks arrive on `hop` at this rank. */
  private segmentForHop(length: number, hop: number): Span {
    const n = this.worldSize;
    return segmentBounds(length, n, (((this.rank - hop - 1) % n) + n) % n);
  }

  private chunks(span: Span): number {
    return Math.ceil(span.length / this.chunkElems);
  }

  allreduceSum(buf: Float32Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.op) return Promise.reject(new RingtrainError(ErrorCodes.INTERNAL, 'all-reduce already in progress'));
    const n = this.worldSize;
    const lastHop = 2 * n - 3;
    let recvLeft = 0;
    let sendLeft = this.chunks(segmentBounds(buf.length, n, this.rank));
    for (let hop = 0; hop <= lastHop; hop++) {
      const c = this.chunks(this.segmentForHop(buf.length, hop));
      recvLeft += c;
      if (hop < lastHop) sendLeft += c;
    }
    const seq = ++this.seq;
    if (recvLeft === 0 && sendLeft === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new RingtrainError(ErrorCodes.TIMEOUT, `all-reduce ${seq} did not finish within ${this.opTimeoutMs} ms (${this.op?.recvLeft ?? 0} chunks still expected from rank ${(this.rank - 1 + n) % n})`)),
        this.opTimeoutMs,
      );
      this.op = { seq, buf, recvLeft, sendLeft, resolve, reject, timer };
      const own = segmentBounds(buf.length, n, this.rank);
      for (let off = 0; off < own.length; off += this.chunkElems) {
        this.send(0, own.start + off, Math.min(this.chunkElems, own.length - off));
      }
      const early = this.early;
      this.early = [];
      for (const frame of early) this.onFrame(frame, true);
    });
  }

  private send(hop: number, offset: number, count: number): void {
    const op = this.op!;
    // One copy into a fresh frame: the header must precede the payload in a single WebSocket
    // message, and the copy also frees `buf` for the next hop's writes while bytes are in flight.
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + count * 4);
    writeFrameHeader(frame, { kind: FrameKind.Data, dtype: Dtype.F32, hop, generation: this.generation, seq: op.seq, offset, count });
    frame.set(new Uint8Array(op.buf.buffer, op.buf.byteOffset + offset * 4, count * 4), FRAME_HEADER_BYTES);
    this.succ.send(frame, { binary: true }, (err) => {
      if (err) {
        this.fail(new RingtrainError(ErrorCodes.RING_FAILED, `sending to ring successor failed: ${err.message}`));
        return;
      }
      if (this.op !== op) return;
      op.sendLeft--;
      this.maybeDone();
    });
  }

  private onFrame(frame: Buffer, isBinary: boolean): void {
    if (this.failure) return;
    let h: FrameHeader;
    try {
      if (!isBinary) throw new RingtrainError(ErrorCodes.BAD_FRAME, 'text frame on ring link');
      h = readFrameHeader(frame);
    } catch (err) {
      this.fail(new RingtrainError(ErrorCodes.BAD_FRAME, `bad frame from ring predecessor: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    if (h.kind !== FrameKind.Data || h.generation !== this.generation || h.dtype !== Dtype.F32) {
      this.log.warn({ code: ErrorCodes.BAD_FRAME, kind: h.kind, generation: h.generation, seq: h.seq }, 'ring frame for another generation or of unexpected kind dropped');
      return;
    }
    const op = this.op;
    if (!op || h.seq !== op.seq) {
      if (h.seq === this.seq + 1 && (!op || op.seq === this.seq)) {
        this.early.push(frame);
      } else {
        this.log.warn({ code: ErrorCodes.BAD_FRAME, seq: h.seq, expected: op?.seq ?? this.seq + 1 }, 'stale ring frame dropped');
      }
      return;
    }
    const lastHop = 2 * this.worldSize - 3;
    const seg = this.segmentForHop(op.buf.length, h.hop);
    if (h.hop > lastHop || h.offset < seg.start || h.offset + h.count > seg.start + seg.length || h.count > this.chunkElems || h.count === 0) {
      this.fail(new RingtrainError(ErrorCodes.BAD_FRAME, `ring frame hop ${h.hop} [${h.offset}, +${h.count}) is outside segment [${seg.start}, +${seg.length})`));
      return;
    }
    const payload = payloadF32(frame, h.count);
    if (h.hop < this.worldSize - 1) addInto(op.buf, h.offset, payload);
    else op.buf.set(payload, h.offset);
    op.recvLeft--;
    if (h.hop < lastHop) this.send(h.hop + 1, h.offset, h.count);
    this.maybeDone();
  }

  private maybeDone(): void {
    const op = this.op;
    if (!op || op.recvLeft > 0 || op.sendLeft > 0) return;
    clearTimeout(op.timer);
    this.op = null;
    op.resolve();
  }

  /** Ends the ring for good: a generation whose ring broke is over. */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const op = this.op;
    this.op = null;
    if (op) {
      clearTimeout(op.timer);
      op.reject(err);
    }
    this.pred.terminate();
    this.succ.terminate();
  }

  /** The error that ended this ring, if any. */
  get error(): Error | null {
    return this.failure;
  }

  async close(): Promise<void> {
    this.failure ??= new RingtrainError(ErrorCodes.ABORTED, 'ring closed');
    const op = this.op;
    this.op = null;
    if (op) {
      clearTimeout(op.timer);
      op.reject(this.failure);
    }
    this.pred.removeAllListeners('close');
    this.succ.removeAllListeners('close');
    this.pred.close();
    this.succ.close();
  }
}
