/**
 * All-reduce over worker-to-worker WebSockets, with the algorithm chosen per call by size and
 * world (allreduce-plan.ts, the way NCCL and Gloo choose): the pipelined ring (ring-allreduce.ts)
 * for large buffers, recursive doubling (recursive-doubling.ts) for small ones and recursive
 * halving-doubling (halving-doubling.ts) in between when N is a power of two. The last two run
 * over extra "mesh" links (mesh-exchange.ts); ring-links.ts opens every link.
 *
 * This class holds what every algorithm shares: the call's sequence number, its timeout, its wire
 * codec (wire-codec.ts: float32, or float16 with `compress: 'fp16'`; exact calls are never
 * compressed), and the failure that ends the collective for good.
 */
import type { Collective } from './collective.js';
import { Defaults } from '../base/constants.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import type { RingPeer } from '../protocol/protocol.js';
import { BufferPool } from '../base/buffer-pool.js';
import { chooseAlgorithm, type AlgorithmChoice, type AllreduceAlgorithm } from './allreduce-plan.js';
import type { AllreduceOp, CollectiveState } from './algorithm.js';
import { connectLinks, openPeerLinks, type PeerLinks, type RawLinks, type RingOptions } from './ring-links.js';
import { RingAllreduce } from './ring-allreduce.js';
import { MeshExchange } from './mesh-exchange.js';
import { RecursiveDoubling } from './recursive-doubling.js';
import { HalvingDoubling } from './halving-doubling.js';
import { f16Codec, f32Codec, type WireCodec } from './wire-codec.js';
import { RingPeerError, blamePeer } from './peer-error.js';
import type { Compression } from '../protocol/protocol.js';

export type { Compression, RingOptions };
export { RingPeerError };

/** The Collective of a worker in a generation: one rank's links to its ring and mesh peers. */
export class RingCollective implements Collective {
  readonly rank: number;
  readonly worldSize: number;
  private readonly opTimeoutMs: number;
  private readonly algorithm: AlgorithmChoice;
  private readonly smallMaxBytes: number;
  private readonly wireCodec: WireCodec;
  private readonly state: CollectiveState;
  private readonly links: PeerLinks;
  private readonly ring: RingAllreduce;
  private readonly mesh: MeshExchange;
  private readonly ops: Record<AllreduceAlgorithm, AllreduceOp>;
  /** The algorithm running the call in progress. */
  private current: AllreduceOp | null = null;
  private opReject: ((err: Error) => void) | null = null;

  private constructor(opts: RingOptions, raw: RawLinks) {
    this.rank = opts.rank;
    this.worldSize = opts.worldSize;
    this.opTimeoutMs = opts.opTimeoutMs;
    this.algorithm = opts.algorithm ?? 'auto';
    this.smallMaxBytes = opts.smallMaxBytes ?? Defaults.smallAllreduceMaxBytes;
    this.wireCodec = opts.compress === 'fp16' ? f16Codec : f32Codec;
    this.state = {
      rank: opts.rank,
      worldSize: opts.worldSize,
      generation: opts.generation,
      chunkElems: Math.max(1, Math.floor(Math.min(opts.chunkBytes ?? Defaults.ringChunkBytes, Defaults.ringMaxMessageBytes) / 4)),
      log: opts.log,
      seq: 0,
      busy: false,
      failure: null,
      fail: (err) => this.fail(err),
    };
    /** Buffers of frames gathered whole, reused once applied (see buffer-pool.ts). */
    const pool = new BufferPool(Defaults.ringPooledBuffers);
    // The algorithms exist before the links: a link may hand over frames that arrived during its
    // handshake while it is being opened.
    this.ring = new RingAllreduce(this.state, (h, p, done) => this.links.succ.send(h, p, done), pool);
    this.mesh = new MeshExchange(this.state, (peer) => {
      const link = this.links.mesh.get(peer)!;
      return (h, p, done) => link.send(h, p, done);
    }, pool);
    this.ops = { ring: this.ring, rd: new RecursiveDoubling(this.state, this.mesh), hd: new HalvingDoubling(this.state, this.mesh) };
    this.links = openPeerLinks(opts, raw, {
      pred: { route: (h) => this.ring.route(h), end: (h, r, p) => this.ring.arrived(h, r, p) },
      mesh: (peer) => ({ route: (h) => this.mesh.route(peer, h), end: (h, r, p) => r === 'collect' && this.mesh.arrived(peer, { header: h, payload: p! }) }),
      // A link's error names the peer at its other end.
      failed: (err: Error, peer: RingPeer) => this.fail(blamePeer(err, peer)),
    }, pool);
    // A link that failed while the links were being opened could not close them yet.
    if (this.state.failure) this.closeLinks(true);
  }

  /** Forms this rank's part of the ring (and the mesh links of recursive doubling, if enabled). */
  static async connect(opts: RingOptions): Promise<RingCollective> {
    return new RingCollective(opts, await connectLinks(opts));
  }

  /** How the predecessor link reads: into one fixed buffer (fixed-read.ts), lying in `arena`. */
  get predReads(): { fixed: boolean; inArena: boolean } {
    return this.links.predReads;
  }

  /** The successor link runs over the successor's local (Unix socket) endpoint, not TCP. */
  get successorLocal(): boolean {
    return this.links.successorLocal;
  }

  allreduceSum(buf: Float32Array, opts: { exact?: boolean } = {}): Promise<void> {
    const { state } = this;
    if (state.failure) return Promise.reject(state.failure);
    if (state.busy) return Promise.reject(new RingtrainError(ErrorCodes.INTERNAL, 'all-reduce already in progress'));
    const seq = ++state.seq;
    const algo = chooseAlgorithm(this.algorithm, buf.length * 4, this.worldSize, { smallMaxBytes: this.smallMaxBytes, midMaxBytes: Defaults.midAllreduceMaxBytes }, this.links.mesh.size > 0 || this.worldSize === 1);
    state.busy = true;
    const op = this.ops[algo];
    this.current = op;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new RingtrainError(ErrorCodes.TIMEOUT, `all-reduce ${seq} (${algo}, ${buf.length} values) did not finish within ${this.opTimeoutMs} ms; a peer is stalled or gone${this.progress()}`)),
        this.opTimeoutMs,
      );
      const settle = (err: Error | null): void => {
        clearTimeout(timer);
        state.busy = false;
        op.forget();
        this.current = null;
        this.opReject = null;
        if (err) reject(err);
        else resolve();
      };
      this.opReject = (err) => settle(err);
      op.start({ buf, seq, codec: opts.exact ? f32Codec : this.wireCodec }, settle);
    });
  }

  /** What the call in progress still waits for, for the timeout's message. */
  private progress(): string {
    const left = this.current === this.ring ? this.ring.progress() : null;
    return left ? ` (chunks still to receive: ${left.recvLeft}, to send: ${left.sendLeft}; successor link: ${this.links.succ.pending()})` : '';
  }

  /** Ends the collective for good: a generation whose links broke is over. */
  private fail(err: Error): void {
    const { state } = this;
    if (state.failure) return;
    state.failure = err;
    const reject = this.opReject;
    this.opReject = null;
    reject?.(err);
    this.mesh.clear();
    this.closeLinks(true);
  }

  private closeLinks(terminate: boolean): void {
    const links = this.links as PeerLinks | undefined;
    if (links === undefined) return;
    links.pred.close(terminate);
    links.succ.close(terminate);
    for (const l of links.mesh.values()) l.close(terminate);
  }

  /** The error that ended this collective, if any. */
  get error(): Error | null {
    return this.state.failure;
  }

  async close(): Promise<void> {
    const { state } = this;
    if (state.failure) return;
    state.failure = new RingtrainError(ErrorCodes.ABORTED, 'ring closed');
    const reject = this.opReject;
    this.opReject = null;
    reject?.(state.failure);
    this.closeLinks(false);
  }
}
