/**
 * All-reduce over worker-to-worker WebSockets, with two algorithms chosen by size (the way NCCL
 * and Gloo choose):
 *
 * - Ring (bandwidth-optimal): reduce-scatter then all-gather, N-1 hops each. The buffer is cut
 *   into N segments and each segment into chunks. A chunk travels 2N-2 hops round the ring: on
 *   hops 0..N-2 each rank adds its own values into it, on hops N-1..2N-3 each rank copies the
 *   finished sum. The chunk a rank forwards on hop h+1 is exactly the one it received on hop h,
 *   so every chunk is forwarded the moment it is reduced (a pipelined ring, no step barrier).
 * - Recursive doubling (latency-optimal, small buffers): log2(P) pairwise exchange rounds over
 *   extra "mesh" links, with ranks beyond the largest power of two P folded in first and served
 *   last (see doubling-plan.ts).
 * - Recursive halving-doubling (Rabenseifner; mid-sized buffers when N is a power of two): the
 *   ring's bytes in 2·log2(P) rounds over the same mesh links.
 *
 * Sends are views of the caller's buffer, never copies. That is safe because every region this
 * rank overwrites after sending it (the all-gather copy into a segment it sent earlier) is written
 * only with data that causally followed the earlier send round the ring, so the earlier bytes had
 * left this process; recursive doubling adds a partner's values only after its own send finished.
 *
 * Every link, mesh links included, is opened with the ring handshake (ring-handshake.ts): each
 * side proves this generation's ring key for its rank and the link kind before data flows.
 *
 * With `compress: 'fp16'` every payload travels as float16. Whoever finishes a value rounds its
 * own copy to float16 before sending it, so all ranks end with the same, fp16-representable bits.
 */
import type { Collective } from './collective.js';
import type { RingServer } from '../transport/ring-server.js';
import { PeerLink, type RingLink } from '../transport/peer-link.js';
import { FatalDialError, dialOnce, localEndpoint } from '../transport/ring-handshake.js';
import { Defaults } from '../base/constants.js';
import { ErrorCodes, RingtrainError, toRingtrainError, type ErrorCode } from '../base/errors.js';
import type { RingPeer } from '../protocol/protocol.js';
import { Dtype, FrameKind, LinkKind, bytesAsF32, type FrameHeader } from '../protocol/codec.js';
import type { FrameTarget, Route } from '../transport/ring-stream.js';
import { addInto, segmentBounds, type Span } from '../kernels/flat.js';
import { BufferPool } from '../base/buffer-pool.js';
import { KernelArena } from '../kernels/kernel-arena.js';
import { addF16Into, decodeF16Into, encodeF16, encodeF16InPlace, payloadU16 } from './fp16.js';
import { chooseAlgorithm, doublingPeers, doublingPlan, type AlgorithmChoice } from './doubling-plan.js';
import type { Logger } from '../base/logger.js';
import type { TlsMaterial } from '../transport/tls.js';
import type { Compression } from '../protocol/protocol.js';

export type { Compression };

export interface RingOptions {
  server: RingServer;
  generation: number;
  rank: number;
  worldSize: number;
  successorUrl: string;
  /** Every rank's ring URL, by rank; enables recursive doubling for small buffers. */
  peerUrls?: readonly string[] | null;
  connectTimeoutMs: number;
  opTimeoutMs: number;
  chunkBytes?: number;
  algorithm?: AlgorithmChoice;
  compress?: Compression;
  /**
   * The KernelArena the caller's buffers live in (generation.ts sizes it with room for one
   * Defaults.ringReadBufferBytes read buffer): the predecessor link reads into it, so received
   * gradients are added from where they were read, with no copy.
   */
  arena?: KernelArena | null;
  /** Buffers of at most this many bytes use recursive doubling (with algorithm 'auto'). */
  smallMaxBytes?: number;
  log: Logger;
  /** This generation's ring key (auth.ts deriveRingKey); every link proves it both ways. */
  ringKey: Uint8Array;
  /** Trust anchors for wss:// peers. */
  tls?: TlsMaterial | null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A failure of one link, naming the peer at its other end: the coordinator weighs these reports to
 * decide whom to drop when two workers cannot reach each other (coordinator/ring-blame.ts).
 */
export class RingPeerError extends RingtrainError {
  constructor(code: ErrorCode, message: string, readonly peer: RingPeer) {
    super(code, message);
  }
}

/** `err` as a RingPeerError naming `peer` (an error that already names one keeps it). */
function blamePeer(err: unknown, peer: RingPeer): RingPeerError {
  if (err instanceof RingPeerError) return err;
  const e = toRingtrainError(err, ErrorCodes.RING_FAILED);
  return new RingPeerError(e.code, e.message, peer);
}

/** Opens an authenticated link to a peer's ring listener, retrying until the deadline (it may still be starting). */
async function dialPeer(opts: RingOptions, url: string, link: number, peer: RingPeer): Promise<RingLink> {
  const timeoutMs = opts.connectTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  let delay: number = Defaults.connectBackoffMs;
  let lastError = '';
  // A peer in this network namespace is reached over its Unix socket (ws:// URLs only; see
  // localEndpoint); anywhere else that socket does not exist (connecting fails at once) and the
  // dialler falls back to TCP for good.
  let local = localEndpoint(url);
  while (Date.now() < deadline) {
    try {
      return await dialOnce({ url, generation: opts.generation, rank: opts.rank, ringKey: opts.ringKey, tls: opts.tls ?? null, timeoutMs: Math.max(1, deadline - Date.now()), link, local });
    } catch (err) {
      if (err instanceof FatalDialError) throw blamePeer(err.error, peer);
      const code = (err as { code?: unknown }).code;
      if (local !== null && (code === 'ECONNREFUSED' || code === 'ENOENT')) {
        opts.log.debug({ url }, 'ring peer not reachable over its local endpoint; using TCP');
        local = null;
        continue;
      }
      lastError = err instanceof Error ? err.message : String(err);
      await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
      delay = Math.min(delay * 2, Defaults.connectBackoffMaxMs);
    }
  }
  throw new RingPeerError(ErrorCodes.RING_FAILED, `could not connect to ring ${link === LinkKind.Mesh ? 'peer' : 'successor'} rank ${peer.rank} ${url} within ${timeoutMs} ms (${lastError})`, peer);
}

/** A data frame whose payload was gathered into a buffer of its own. */
interface DataFrame {
  header: FrameHeader;
  payload: Buffer;
}

interface RingOp {
  seq: number;
  buf: Float32Array;
  recvLeft: number;
  sendLeft: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Frames that arrived on mesh links, by (seq, hop, sender), until their round asks for them. */
interface MeshSlot {
  frames: DataFrame[];
  elems: number;
  waiter: { span: Span; resolve: (f: DataFrame[]) => void } | null;
}

export class RingCollective implements Collective {
  readonly rank: number;
  readonly worldSize: number;
  private readonly generation: number;
  private readonly chunkElems: number;
  private readonly opTimeoutMs: number;
  private readonly algorithm: AlgorithmChoice;
  private readonly smallMaxBytes: number;
  private readonly wireDtype: number;
  /** Dtype of the collective in progress: the wire dtype, or float32 for an exact call. */
  private dtype: number = Dtype.F32;
  private readonly log: Logger;
  private readonly pred: PeerLink;
  private readonly succ: PeerLink;
  private readonly mesh = new Map<number, PeerLink>();
  /** How the predecessor link reads: into one fixed buffer (fixed-read.ts), lying in `arena`. */
  readonly predReads: { fixed: boolean; inArena: boolean };
  /** The successor link runs over the successor's local (Unix socket) endpoint, not TCP. */
  readonly successorLocal: boolean;
  private seq = 0;
  private busy = false;
  private ring: RingOp | null = null;
  private opReject: ((err: Error) => void) | null = null;
  /** Ring frames of the next collective that arrived before this rank started it. */
  private early: DataFrame[] = [];
  /** Buffers of frames gathered whole, reused once applied (see buffer-pool.ts). */
  private readonly pool = new BufferPool(Defaults.ringPooledBuffers);
  private readonly slots = new Map<string, MeshSlot>();
  private failure: Error | null = null;

  private constructor(opts: RingOptions, pred: RingLink, succ: RingLink, mesh: Map<number, RingLink>) {
    this.rank = opts.rank;
    this.worldSize = opts.worldSize;
    this.generation = opts.generation;
    this.chunkElems = Math.max(1, Math.floor(Math.min(opts.chunkBytes ?? Defaults.ringChunkBytes, Defaults.ringMaxMessageBytes) / 4));
    this.opTimeoutMs = opts.opTimeoutMs;
    this.algorithm = opts.algorithm ?? 'auto';
    this.smallMaxBytes = opts.smallMaxBytes ?? Defaults.smallAllreduceMaxBytes;
    this.wireDtype = opts.compress === 'fp16' ? Dtype.F16 : Dtype.F32;
    this.log = opts.log;
    const n = this.worldSize;
    /** A link's error names the peer at its other end. */
    const onError = (peer: RingPeer) => (err: Error): void => this.fail(blamePeer(err, peer));
    const predRank = (this.rank - 1 + n) % n;
    const succRank = (this.rank + 1) % n;
    const alloc = (bytes: number): Buffer => this.pool.take(bytes);
    const readBuffer = (): Buffer => Buffer.allocUnsafeSlow(Defaults.ringReadBufferBytes);
    const inArena = opts.arena?.allocBytes(Defaults.ringReadBufferBytes) ?? null;
    this.pred = new PeerLink(pred, `ring link from predecessor rank ${predRank}`, { route: (h) => this.routeRing(h), end: (h, r, p) => this.endRing(h, r, p) }, onError({ rank: predRank, link: 'predecessor' }), alloc, inArena ?? readBuffer(), true);
    this.predReads = { fixed: this.pred.fixedReads, inArena: this.pred.fixedReads && inArena !== null };
    this.successorLocal = succ.local === true;
    // Nothing the successor sends is meaningful on the ring: data only flows forward.
    this.succ = new PeerLink(succ, `ring link to successor rank ${succRank}`, {
      route: () => {
        this.log.warn('unexpected frame from ring successor dropped');
        return 'discard';
      },
      end: () => undefined,
    }, onError({ rank: succRank, link: 'successor' }));
    for (const [peer, link] of mesh) {
      this.mesh.set(peer, new PeerLink(link, `mesh link with rank ${peer}`, { route: (h) => this.routeMesh(peer, h), end: (h, r, p) => r === 'collect' && this.onMeshFrame(peer, { header: h, payload: p! }) }, onError({ rank: peer, link: 'mesh' }), alloc, readBuffer()));
    }
  }

  /** Forms this rank's part of the ring (and the mesh links of recursive doubling, if enabled). */
  static async connect(opts: RingOptions): Promise<RingCollective> {
    const { server, generation, rank, worldSize: n, connectTimeoutMs: timeout } = opts;
    const urls = opts.peerUrls;
    const wantMesh = n > 1 && opts.algorithm !== 'ring' && urls !== undefined && urls !== null && urls.length === n;
    // The lower rank of each pair dials, the higher one accepts: one socket per pair.
    const peers = wantMesh ? doublingPeers(rank, n) : [];
    // Every link this rank accepts is asked for at once, so the listener can refuse any other hello.
    const accepted = [{ rank: (rank - 1 + n) % n, link: LinkKind.Ring as number }, ...peers.filter((p) => p < rank).map((p) => ({ rank: p, link: LinkKind.Mesh as number }))];
    const acceptedP = server.awaitLinks(generation, opts.ringKey, timeout, accepted)
      .map((p, i) => p.catch((err: unknown) => Promise.reject(blamePeer(err, { rank: accepted[i]!.rank, link: i === 0 ? 'predecessor' : 'mesh' }))));
    const predP = acceptedP[0]!;
    const succP = dialPeer(opts, opts.successorUrl, LinkKind.Ring, { rank: (rank + 1) % n, link: 'successor' });
    let nextAccepted = 1;
    const meshP = peers.map((p) => (p > rank ? dialPeer(opts, urls![p]!, LinkKind.Mesh, { rank: p, link: 'mesh' }) : acceptedP[nextAccepted++]!));
    const all = await Promise.allSettled([predP, succP, ...meshP]);
    const failed = all.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const r of all) if (r.status === 'fulfilled') r.value.socket.destroy();
      throw failed.reason;
    }
    const socks = all.map((r) => (r as PromiseFulfilledResult<RingLink>).value);
    const mesh = new Map<number, RingLink>(peers.map((p, i) => [p, socks[2 + i]!]));
    return new RingCollective(opts, socks[0]!, socks[1]!, mesh);
  }

  allreduceSum(buf: Float32Array, opts: { exact?: boolean } = {}): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.busy) return Promise.reject(new RingtrainError(ErrorCodes.INTERNAL, 'all-reduce already in progress'));
    const seq = ++this.seq;
    const algo = chooseAlgorithm(this.algorithm, buf.length * 4, this.worldSize, { smallMaxBytes: this.smallMaxBytes, midMaxBytes: Defaults.midAllreduceMaxBytes }, this.mesh.size > 0 || this.worldSize === 1);
    this.busy = true;
    this.dtype = opts.exact ? Dtype.F32 : this.wireDtype;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new RingtrainError(ErrorCodes.TIMEOUT, `all-reduce ${seq} (${algo}, ${buf.length} values) did not finish within ${this.opTimeoutMs} ms; a peer is stalled or gone${this.progress()}`)),
        this.opTimeoutMs,
      );
      const settle = (err: Error | null): void => {
        clearTimeout(timer);
        this.busy = false;
        this.ring = null;
        this.opReject = null;
        if (err) reject(err);
        else resolve();
      };
      this.opReject = (err) => settle(err);
      if (algo !== 'ring') this.doubling(buf, seq, algo === 'hd').then(() => settle(null), (err: Error) => settle(err));
      else this.startRing(buf, seq, () => settle(null));
    });
  }

  /** What the collective in progress still waits for, for the timeout's message. */
  private progress(): string {
    const op = this.ring;
    return op ? ` (chunks still to receive: ${op.recvLeft}, to send: ${op.sendLeft}; successor link: ${this.succ.pending()})` : '';
  }

  // ---- ring ----

  /** Segment whose chunks arrive on `hop` at this rank. */
  private segmentForHop(length: number, hop: number): Span {
    const n = this.worldSize;
    return segmentBounds(length, n, (((this.rank - hop - 1) % n) + n) % n);
  }

  /** The ring's last hop: N-1 reduce-scatter hops (0..N-2), then N-2 all-gather forwards. */
  private get lastHop(): number {
    return 2 * this.worldSize - 3;
  }

  private chunks(span: Span): number {
    return Math.ceil(span.length / this.chunkElems);
  }

  private startRing(buf: Float32Array, seq: number, resolve: () => void): void {
    const n = this.worldSize;
    const lastHop = this.lastHop;
    let recvLeft = 0;
    let sendLeft = this.chunks(segmentBounds(buf.length, n, this.rank));
    for (let hop = 0; hop <= lastHop; hop++) {
      const c = this.chunks(this.segmentForHop(buf.length, hop));
      recvLeft += c;
      if (hop < lastHop) sendLeft += c;
    }
    const op: RingOp = { seq, buf, recvLeft, sendLeft, resolve, reject: () => undefined };
    this.ring = op;
    if (n === 1 || (recvLeft === 0 && sendLeft === 0)) {
      resolve();
      return;
    }
    const own = segmentBounds(buf.length, n, this.rank);
    for (let off = 0; off < own.length; off += this.chunkElems) this.ringSend(op, 0, own.start + off, Math.min(this.chunkElems, own.length - off));
    const early = this.early;
    this.early = [];
    for (const f of early) {
      if (this.ring !== op) return;
      this.applyEarly(op, f);
    }
  }

  private ringSend(op: RingOp, hop: number, offset: number, count: number): void {
    // The first all-gather hop sends a finished sum: under fp16, round this rank's copy the same way.
    const bytes = this.wireBytes(op.buf.subarray(offset, offset + count), hop === this.worldSize - 1);
    this.succ.send({ kind: FrameKind.Data, dtype: this.dtype, hop, generation: this.generation, seq: op.seq, offset, count }, bytes, (err) => {
      if (err) {
        this.fail(new RingPeerError(ErrorCodes.RING_FAILED, `sending to ring successor rank ${(this.rank + 1) % this.worldSize} failed: ${err.message}`, { rank: (this.rank + 1) % this.worldSize, link: 'successor' }));
        return;
      }
      if (this.ring !== op) return;
      op.sendLeft--;
      this.ringMaybeDone(op);
    });
  }

  /** Where a frame from the predecessor goes: into the collective in progress, or aside. */
  private routeRing(h: FrameHeader): Route {
    if (this.failure) return 'discard';
    if (h.generation !== this.generation) {
      this.log.warn({ code: ErrorCodes.BAD_FRAME, kind: h.kind, generation: h.generation, seq: h.seq }, 'ring frame for another generation or of unexpected kind dropped');
      return 'discard';
    }
    const op = this.ring;
    if (!op || h.seq !== op.seq) {
      // A predecessor that already started the next collective: kept until this rank starts it.
      if (h.seq === this.seq + 1) return 'collect';
      this.log.warn({ code: ErrorCodes.BAD_FRAME, seq: h.seq, current: this.seq }, 'stale ring frame dropped');
      return 'discard';
    }
    return this.ringTarget(op, h);
  }

  /**
   * Checks a frame against the collective in progress and returns where its payload is added
   * (reduce-scatter hops) or copied (all-gather hops): straight from the socket's read buffers.
   */
  private ringTarget(op: RingOp, h: FrameHeader): FrameTarget {
    const seg = this.segmentForHop(op.buf.length, h.hop);
    if (h.dtype !== this.dtype || h.hop > this.lastHop || h.offset < seg.start || h.offset + h.count > seg.start + seg.length || h.count > this.chunkElems) {
      throw new RingtrainError(ErrorCodes.BAD_FRAME, `ring frame hop ${h.hop} dtype ${h.dtype} [${h.offset}, +${h.count}) does not fit segment [${seg.start}, +${seg.length}) of a dtype-${this.dtype} all-reduce`);
    }
    const add = h.hop < this.worldSize - 1;
    const buf = op.buf;
    // A float32 buffer in an arena takes pieces wherever they lie in the read buffer (applyBytes).
    const anyAlignment = this.dtype === Dtype.F32 && KernelArena.of(buf) !== null;
    const piece = (bytes: Buffer, at: number): void => this.applyBytes(buf, h.offset + at, bytes, add);
    if (add || this.dtype !== Dtype.F32) return { anyAlignment, piece };
    // An all-gather payload is stored unchanged: the link may read it straight into place.
    const base = buf.byteOffset + h.offset * 4;
    return { piece, bytesAt: (from, length) => new Uint8Array(buf.buffer, base + from, length) };
  }

  private endRing(h: FrameHeader, route: Route, payload: Buffer | null): void {
    if (this.failure || route === 'discard') return;
    const op = this.ring;
    if (route === 'collect') {
      const f = { header: h, payload: payload! };
      // Its header came before this rank started the collective; its end may come after.
      if (op && op.seq === h.seq) this.applyEarly(op, f);
      else this.early.push(f);
      return;
    }
    if (op && op.seq === h.seq) this.ringFrameDone(op, h);
  }

  /** Applies a frame that was gathered before its collective started here. */
  private applyEarly(op: RingOp, f: DataFrame): void {
    try {
      this.ringTarget(op, f.header).piece(f.payload, 0);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.pool.give(f.payload);
    this.ringFrameDone(op, f.header);
  }

  /** A chunk of this collective is in: forward it on the next hop (if any). */
  private ringFrameDone(op: RingOp, h: FrameHeader): void {
    op.recvLeft--;
    if (h.hop < this.lastHop) this.ringSend(op, h.hop + 1, h.offset, h.count);
    this.ringMaybeDone(op);
  }

  private ringMaybeDone(op: RingOp): void {
    if (op.recvLeft > 0 || op.sendLeft > 0 || this.ring !== op) return;
    op.resolve();
  }

  // ---- recursive doubling / halving-doubling (mesh links) ----

  private async doubling(buf: Float32Array, seq: number, halving: boolean): Promise<void> {
    const plan = doublingPlan(this.rank, this.worldSize);
    const last = 2 * plan.rounds + 1;
    const all: Span = { start: 0, length: buf.length };
    if (plan.foldInto !== null) {
      await this.meshSend(plan.foldInto, seq, 0, buf, all, false);
      this.meshApply(await this.meshRecv(plan.foldInto, seq, last, all), buf, false);
      return;
    }
    if (plan.foldFrom !== null) this.meshApply(await this.meshRecv(plan.foldFrom, seq, 0, all), buf, true);
    if (halving) await this.halvingDoubling(buf, seq, plan.partners);
    else {
      for (let k = 0; k < plan.partners.length; k++) {
        const partner = plan.partners[k]!;
        // Both partners round (fp16) and send the same operands, and IEEE addition is commutative,
        // so both hold bit-identical sums after the round: a + b == b + a exactly.
        const [, frames] = await Promise.all([this.meshSend(partner, seq, k + 1, buf, all, true), this.meshRecv(partner, seq, k + 1, all)]);
        this.meshApply(frames, buf, true);
      }
      if (this.dtype === Dtype.F16) {
        // Every core rank rounds its final sum, so all ranks (extra ones included) hold the same bits.
        encodeF16InPlace(buf, new Uint16Array(buf.length));
      }
    }
    if (plan.foldFrom !== null) await this.meshSend(plan.foldFrom, seq, last, buf, all, false);
  }

  /**
   * Rabenseifner's all-reduce among the core ranks: a reduce-scatter by recursive halving (each
   * round keeps half of the current range, sends the other half to the partner and adds the
   * partner's copy of the kept half), then an all-gather by recursive doubling in reverse order.
   * Same bytes as the ring, but 2·log2(P) rounds instead of 2(N-1) hops. Each value is summed by
   * exactly one rank and copied to the others, so all ranks end bit-identical.
   */
  private async halvingDoubling(buf: Float32Array, seq: number, partners: number[]): Promise<void> {
    const ranges: Span[] = [];
    let range: Span = { start: 0, length: buf.length };
    for (let k = 0; k < partners.length; k++) {
      const partner = partners[k]!;
      const lower = segmentBounds(range.length, 2, 0);
      const a: Span = { start: range.start, length: lower.length };
      const b: Span = { start: range.start + lower.length, length: range.length - lower.length };
      const [keep, give] = this.rank < partner ? [a, b] : [b, a];
      const [, frames] = await Promise.all([this.meshSend(partner, seq, k + 1, buf, give, false), this.meshRecv(partner, seq, k + 1, keep)]);
      this.meshApply(frames, buf, true);
      ranges.push(range);
      range = keep;
    }
    for (let k = partners.length - 1; k >= 0; k--) {
      const partner = partners[k]!;
      const whole = ranges[k]!;
      const other: Span = range.start === whole.start ? { start: whole.start + range.length, length: whole.length - range.length } : { start: whole.start, length: whole.length - range.length };
      // The first all-gather send carries this rank's finished sums: round its own copy too (fp16).
      const hop = 2 * partners.length - k;
      const [, frames] = await Promise.all([this.meshSend(partner, seq, hop, buf, range, true), this.meshRecv(partner, seq, hop, other)]);
      this.meshApply(frames, buf, false);
      range = whole;
    }
  }

  /** Sends `span` of `buf` to `peer` in chunks; resolves once the socket has taken every byte. */
  private meshSend(peer: number, seq: number, hop: number, buf: Float32Array, span: Span, roundInPlace: boolean): Promise<void> {
    const link = this.mesh.get(peer)!;
    const chunks: Promise<void>[] = [];
    for (let off = span.start; off < span.start + span.length; off += this.chunkElems) {
      const count = Math.min(this.chunkElems, span.start + span.length - off);
      const bytes = this.wireBytes(buf.subarray(off, off + count), roundInPlace);
      chunks.push(new Promise<void>((resolve, reject) => {
        link.send({ kind: FrameKind.Data, dtype: this.dtype, hop, generation: this.generation, seq, offset: off, count }, bytes, (err) => (err ? reject(new RingPeerError(ErrorCodes.RING_FAILED, `sending to rank ${peer} failed: ${err.message}`, { rank: peer, link: 'mesh' })) : resolve()));
      }));
    }
    return Promise.all(chunks).then(() => undefined);
  }

  /** Adds (or copies) received frames into `buf`. */
  private meshApply(frames: DataFrame[], buf: Float32Array, add: boolean): void {
    for (const f of frames) {
      this.applyPayload(buf, f, add);
      this.pool.give(f.payload);
    }
  }

  // ---- payloads ----

  /**
   * The bytes to send for `chunk`: a view of it (float32), or its float16 encoding; with
   * `roundInPlace` the chunk is also overwritten with what receivers will decode.
   */
  private wireBytes(chunk: Float32Array, roundInPlace: boolean): Uint8Array {
    if (this.dtype !== Dtype.F16) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const enc = new Uint16Array(chunk.length);
    if (roundInPlace) encodeF16InPlace(chunk, enc);
    else encodeF16(chunk, enc);
    return new Uint8Array(enc.buffer);
  }

  /** Adds a received frame's values into `buf` at its offset, or copies them there. */
  private applyPayload(buf: Float32Array, f: DataFrame, add: boolean): void {
    this.applyBytes(buf, f.header.offset, f.payload, add);
  }

  /**
   * Adds raw wire values (whole elements) into `buf` from element `at`, or copies them. They are
   * aligned unless `buf` is a float32 buffer in a KernelArena, which adds them with unaligned
   * loads (from where they lie when the link reads into the same arena) and copies them as bytes.
   */
  private applyBytes(buf: Float32Array, at: number, bytes: Buffer, add: boolean): void {
    const arena = KernelArena.of(buf);
    if (this.dtype === Dtype.F16) {
      const src = payloadU16(bytes);
      if (add) addF16Into(src, buf, at);
      else decodeF16Into(src, buf, at);
    } else if (arena !== null) {
      if (!add) new Uint8Array(buf.buffer, buf.byteOffset + at * 4, bytes.length).set(bytes);
      else if (!arena.addBytes(buf, at, bytes)) addInto(buf, at, bytesAsF32(bytes));
    } else {
      const src = bytesAsF32(bytes);
      if (add) addInto(buf, at, src);
      else buf.set(src, at);
    }
  }

  private slot(key: string): MeshSlot {
    let s = this.slots.get(key);
    if (!s) this.slots.set(key, (s = { frames: [], elems: 0, waiter: null }));
    return s;
  }

  /** Resolves with the frames `peer` sent for (seq, hop) once they cover `span`. */
  private meshRecv(peer: number, seq: number, hop: number, span: Span): Promise<DataFrame[]> {
    const key = `${seq}/${hop}/${peer}`;
    const s = this.slot(key);
    return new Promise((resolve) => {
      s.waiter = { span, resolve };
      this.meshCheck(peer, key, s);
    });
  }

  /** Mesh payloads are gathered whole: a round adds them only once its own send has gone out. */
  private routeMesh(peer: number, h: FrameHeader): Route {
    if (this.failure) return 'discard';
    // The collective in progress, or the next one when a faster peer has already started it.
    if (h.generation !== this.generation || !(h.seq === this.seq + 1 || (this.busy && h.seq === this.seq))) {
      this.log.warn({ code: ErrorCodes.BAD_FRAME, peer, generation: h.generation, seq: h.seq, current: this.seq }, 'mesh frame for another generation or collective dropped');
      return 'discard';
    }
    return 'collect';
  }

  private onMeshFrame(peer: number, f: DataFrame): void {
    if (this.failure) return;
    const h = f.header;
    const key = `${h.seq}/${h.hop}/${peer}`;
    const s = this.slot(key);
    s.frames.push(f);
    s.elems += h.count;
    this.meshCheck(peer, key, s);
  }

  /** Hands a slot to its waiter once complete; fails on data that cannot belong to the buffer. */
  private meshCheck(peer: number, key: string, s: MeshSlot): void {
    const w = s.waiter;
    const lo = w ? w.span.start : 0;
    const hi = w ? w.span.start + w.span.length : Defaults.ringMaxBufferedValues;
    if (s.elems > hi - lo || s.frames.some((x) => x.header.offset < lo || x.header.offset + x.header.count > hi || (w !== null && x.header.dtype !== this.dtype))) {
      this.fail(new RingtrainError(ErrorCodes.BAD_FRAME, `mesh peer rank ${peer} sent values outside [${lo}, ${hi}) or of the wrong dtype`));
      return;
    }
    if (w && s.elems === w.span.length) {
      this.slots.delete(key);
      w.resolve(s.frames);
    }
  }

  // ---- lifecycle ----

  /** Ends the collective for good: a generation whose links broke is over. */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const reject = this.opReject;
    this.opReject = null;
    reject?.(err);
    this.slots.clear();
    this.closeLinks(true);
  }

  private closeLinks(terminate: boolean): void {
    this.pred.close(terminate);
    this.succ.close(terminate);
    for (const l of this.mesh.values()) l.close(terminate);
  }

  /** The error that ended this collective, if any. */
  get error(): Error | null {
    return this.failure;
  }

  async close(): Promise<void> {
    if (this.failure) return;
    this.failure = new RingtrainError(ErrorCodes.ABORTED, 'ring closed');
    const reject = this.opReject;
    this.opReject = null;
    reject?.(this.failure);
    this.closeLinks(false);
  }
}
