/**
 * Link set-up for one generation's collective: this rank dials its ring successor and the mesh
 * peers above it, and accepts its predecessor and the mesh peers below it (one socket per pair).
 * Every link, mesh links included, is opened with the ring handshake (ring-handshake.ts): each
 * side proves this generation's ring key for its rank and the link kind before data flows. Then
 * each socket becomes a PeerLink whose frames go to the algorithm that owns the link.
 */
import type { RingServer } from '../transport/ring-server.js';
import { PeerLink, type LinkHandlers, type RingLink } from '../transport/peer-link.js';
import { FatalDialError, dialOnce, localEndpoint } from '../transport/ring-handshake.js';
import { Defaults } from '../base/constants.js';
import { ErrorCodes } from '../base/errors.js';
import type { Compression, RingPeer } from '../protocol/protocol.js';
import { LinkKind } from '../protocol/codec.js';
import type { BufferPool } from '../base/buffer-pool.js';
import type { KernelArena } from '../kernels/kernel-arena.js';
import type { Logger } from '../base/logger.js';
import type { TlsMaterial } from '../transport/tls.js';
import { doublingPeers, type AlgorithmChoice } from './allreduce-plan.js';
import { RingPeerError, blamePeer } from './peer-error.js';

/** How RingCollective.connect forms this rank's links and runs its calls. */
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

/** This rank's sockets once every handshake is done. */
export interface RawLinks {
  pred: RingLink;
  succ: RingLink;
  /** By peer rank; empty unless recursive doubling is possible. */
  mesh: Map<number, RingLink>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
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

/**
 * Opens this rank's part of the ring, and the mesh links of recursive doubling when every rank's
 * URL is known and the algorithm may use them. On any failure the links already open are closed
 * and the first failure, naming its peer, is thrown.
 */
export async function connectLinks(opts: RingOptions): Promise<RawLinks> {
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
  return { pred: socks[0]!, succ: socks[1]!, mesh: new Map<number, RingLink>(peers.map((p, i) => [p, socks[2 + i]!])) };
}

/** Where each link's incoming frames go, and where a link's failure is reported. */
export interface LinkSinks {
  /** Frames from the predecessor (the ring's data). */
  pred: LinkHandlers;
  /** Frames from mesh peer `peer`. */
  mesh(peer: number): LinkHandlers;
  /** A link failed; `peer` is the rank at its other end and the link's place. */
  failed(err: Error, peer: RingPeer): void;
}

/** The open links of one collective. */
export interface PeerLinks {
  pred: PeerLink;
  succ: PeerLink;
  mesh: Map<number, PeerLink>;
  /** How the predecessor link reads: into one fixed buffer (fixed-read.ts), lying in `arena`. */
  predReads: { fixed: boolean; inArena: boolean };
  /** The successor link runs over the successor's local (Unix socket) endpoint, not TCP. */
  successorLocal: boolean;
}

/**
 * Wraps each socket in a PeerLink. The predecessor link reads into one fixed buffer, in the
 * caller's arena where one is given, and may read all-gather payloads straight into place; frames
 * gathered whole take their buffers from `pool`.
 */
export function openPeerLinks(opts: RingOptions, raw: RawLinks, sinks: LinkSinks, pool: BufferPool): PeerLinks {
  const n = opts.worldSize;
  const predRank = (opts.rank - 1 + n) % n;
  const succRank = (opts.rank + 1) % n;
  const onError = (peer: RingPeer) => (err: Error): void => sinks.failed(err, peer);
  const alloc = (bytes: number): Buffer => pool.take(bytes);
  const readBuffer = (): Buffer => Buffer.allocUnsafeSlow(Defaults.ringReadBufferBytes);
  const inArena = opts.arena?.allocBytes(Defaults.ringReadBufferBytes) ?? null;
  const pred = new PeerLink(raw.pred, `ring link from predecessor rank ${predRank}`, sinks.pred, onError({ rank: predRank, link: 'predecessor' }), alloc, inArena ?? readBuffer(), true);
  // Nothing the successor sends is meaningful on the ring: data only flows forward.
  const succ = new PeerLink(raw.succ, `ring link to successor rank ${succRank}`, {
    route: () => {
      opts.log.warn('unexpected frame from ring successor dropped');
      return 'discard';
    },
    end: () => undefined,
  }, onError({ rank: succRank, link: 'successor' }));
  const mesh = new Map<number, PeerLink>();
  for (const [peer, link] of raw.mesh) mesh.set(peer, new PeerLink(link, `mesh link with rank ${peer}`, sinks.mesh(peer), onError({ rank: peer, link: 'mesh' }), alloc, readBuffer()));
  return { pred, succ, mesh, predReads: { fixed: pred.fixedReads, inArena: pred.fixedReads && inArena !== null }, successorLocal: raw.succ.local === true };
}
