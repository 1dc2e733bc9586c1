/**
 * Runs the collective's algorithms (ring-allreduce.ts, recursive-doubling.ts, halving-doubling.ts)
 * in one process without sockets, so each can be checked against a reference summation order.
 * Frames keep the transport's contract: each link delivers in order, the payload is read only when
 * the frame is delivered (sends are views the algorithm must leave alone until `done`), and a
 * seeded scheduler interleaves the links at random, so a result that depended on timing would show.
 */
import { pino } from 'pino';
import { BufferPool } from '../../src/shared/base/buffer-pool.js';
import { mulberry32 } from '../../src/shared/base/rng.js';
import type { FrameHeader } from '../../src/shared/protocol/codec.js';
import type { FrameTarget, Route } from '../../src/shared/transport/ring-stream.js';
import type { AllreduceOp, CollectiveState, SendFrame } from '../../src/shared/collective/algorithm.js';
import { MeshExchange } from '../../src/shared/collective/mesh-exchange.js';
import { RingAllreduce } from '../../src/shared/collective/ring-allreduce.js';
import type { WireCodec } from '../../src/shared/collective/wire-codec.js';
import { firstBitDifference, realInputs as realInputsFor } from './allreduce-reference.js';

/** The receiving side of a link (what PeerLink calls). */
export interface Sink {
  route(h: FrameHeader): Route;
  end(h: FrameHeader, route: Route, payload: Buffer | null): void;
}

interface Queued {
  h: FrameHeader;
  payload: Uint8Array;
  done: (err?: Error) => void;
  sink: Sink;
}

/** In-order links between ranks, delivered one frame at a time in a seeded random interleaving. */
export class MemoryNet {
  private readonly links = new Map<string, Queued[]>();
  private scheduled = false;
  private readonly rand: () => number;
  /** Frames delivered so far, and how many of them the receiver gathered whole ('collect'). */
  delivered = 0;
  collected = 0;

  constructor(seed: number) {
    this.rand = mulberry32(seed);
  }

  /** The sender of the link `name` into `sink`. */
  link(name: string, sink: () => Sink): SendFrame {
    return (h, payload, done) => {
      let q = this.links.get(name);
      if (!q) this.links.set(name, (q = []));
      q.push({ h, payload, done, sink: sink() });
      this.schedule();
    };
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const busy = [...this.links.values()].filter((q) => q.length > 0);
      if (busy.length === 0) return;
      const f = busy[Math.floor(this.rand() * busy.length)]!.shift()!;
      this.deliver(f);
      this.schedule();
    });
  }

  private deliver({ h, payload, done, sink }: Queued): void {
    this.delivered++;
    // A fresh, aligned copy, as a socket read is: the sender's view is read only now.
    const bytes = Buffer.alloc(payload.byteLength);
    bytes.set(payload);
    const route = sink.route(h);
    if (route === 'collect') this.collected++;
    if (route === 'discard' || route === 'collect') {
      sink.end(h, route, route === 'collect' ? bytes : null);
    } else {
      const target: FrameTarget = route;
      if (target.bytesAt) target.bytesAt(0, bytes.length).set(bytes);
      else target.piece(bytes, 0);
      sink.end(h, route, null);
    }
    done();
  }
}

export const quiet = pino({ level: 'silent' });

/** One rank's state; `failures` collects what the algorithm reported through `fail`. */
export function memoryState(rank: number, worldSize: number, chunkElems: number): CollectiveState & { failures: Error[] } {
  const failures: Error[] = [];
  const state = {
    rank, worldSize, generation: 1, chunkElems, log: quiet, seq: 0, busy: false, failure: null as Error | null, failures,
    fail(err: Error) {
      failures.push(err);
      state.failure ??= err;
    },
  };
  return state;
}

export interface MemoryRank {
  state: CollectiveState & { failures: Error[] };
  op: AllreduceOp;
}

/** N ranks of the pipelined ring: each sends to its successor. */
export function memoryRing(net: MemoryNet, n: number, chunkElems: number): MemoryRank[] {
  const ranks: MemoryRank[] = [];
  for (let r = 0; r < n; r++) {
    const state = memoryState(r, n, chunkElems);
    const succ = (r + 1) % n;
    const send = net.link(`${r}->${succ}`, () => {
      const ring = ranks[succ]!.op as RingAllreduce;
      return { route: (h) => ring.route(h), end: (h, route, p) => ring.arrived(h, route, p) };
    });
    ranks.push({ state, op: new RingAllreduce(state, send, new BufferPool(4)) });
  }
  return ranks;
}

/** N ranks of a mesh algorithm (`make`), every pair linked both ways. */
export function memoryMesh(net: MemoryNet, n: number, chunkElems: number, make: (state: CollectiveState, mesh: MeshExchange) => AllreduceOp): MemoryRank[] {
  const meshes: MeshExchange[] = [];
  const ranks: MemoryRank[] = [];
  for (let r = 0; r < n; r++) {
    const state = memoryState(r, n, chunkElems);
    const mesh = new MeshExchange(state, (peer) => net.link(`${r}->${peer}`, () => ({
      route: (h) => meshes[peer]!.route(r, h),
      end: (h, route, p) => {
        if (route === 'collect') meshes[peer]!.arrived(r, { header: h, payload: p! });
      },
    })), new BufferPool(4));
    meshes.push(mesh);
    ranks.push({ state, op: make(state, mesh) });
  }
  return ranks;
}

/**
 * One call on every rank (as RingCollective runs it), each rank starting after a random number of
 * scheduler turns so that frames of a call can reach a rank before it starts that call.
 */
export async function allreduceInMemory(ranks: MemoryRank[], bufs: Float32Array[], codec: WireCodec, seed: number): Promise<void> {
  const rand = mulberry32(seed);
  await Promise.all(ranks.map(async ({ state, op }, r) => {
    for (let k = Math.floor(rand() * 4); k > 0; k--) await new Promise((res) => setImmediate(res));
    const seq = ++state.seq;
    state.busy = true;
    await new Promise<void>((resolve, reject) => {
      op.start({ buf: bufs[r]!, seq, codec }, (err) => {
        state.busy = false;
        op.forget();
        if (err) reject(err);
        else resolve();
      });
    });
  }));
  for (const { state } of ranks) if (state.failure) throw state.failure;
}

/**
 * Runs consecutive calls of lengths 1, N-1, 1000 and 2003 for each world size and chunk size, and
 * expects every rank to hold `want(inputs)` bit for bit. Returns how many frames arrived early.
 */
export async function expectReferenceSums(make: (net: MemoryNet, n: number, chunkElems: number) => MemoryRank[], want: (inputs: Float32Array[]) => Float32Array, codec: WireCodec, worlds: readonly number[], expectFn: (diff: number, what: string) => void): Promise<number> {
  let early = 0;
  for (const n of worlds) {
    for (const chunkElems of [7, 1000]) {
      const net = new MemoryNet(n * 31 + chunkElems);
      const ranks = make(net, n, chunkElems);
      for (const [k, len] of [1, Math.max(1, n - 1), 1000, 2003].entries()) {
        const inputs = realInputsFor(n, len, k);
        const bufs = inputs.map((b) => b.slice());
        await allreduceInMemory(ranks, bufs, codec, n * 100 + k);
        const expected = want(inputs);
        bufs.forEach((b, r) => expectFn(firstBitDifference(b, expected), `N=${n} chunk=${chunkElems} len=${len} rank ${r}`));
      }
      early += net.collected;
    }
  }
  return early;
}
